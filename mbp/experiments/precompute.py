"""`mbp precompute`: the paper reproduction as one resumable command, then an export.

Each step is an ordinary `mbp` command run in a child process, so every stored run records the
exact command that produced it, and a killed precompute resumes cell by cell when re-run:

    mbp precompute --store work.duckdb --out precomputed     # computes only what is missing
    mbp precompute --plan smoke                              # a minutes-long check of the pipeline
    mbp precompute --backfill-outcomes                       # outcomes for runs made without

The plan (see `paper_plan`) follows the paper on what ../shared/data allows: e5-small stands in
for mBERT and minilm-l6 for BERT; GLUE = SST-2, MNLI (held-out 10 % of the train slice),
QNLI and MRPC (QQP is not in the data; MRPC is the other paraphrase task); XNLI = zero-shot on
15 languages after English MNLI fine-tuning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mbp.errors import MbpError
from mbp.experiments.backfill import backfill_runs, wants_backfill
from mbp.experiments.flags import executor_argv
from mbp.experiments.plan import (
    Step,
    paper_plan,
    plan_status,
    runs_with_cell_seconds,
    smoke_plan,
    step_runs,
    store_runs_with_cell_seconds,
    with_outcome_flags,
)
from mbp.spec import DataSpec


def data_manifest(data_dir: str | None) -> list[dict]:
    """sha256 of every data file under the data root (what the results were computed from)."""
    from mbp.paths import data_dir as resolve
    from mbp.provenance import file_sha256

    root = resolve(data_dir)
    if root is None or not root.exists():
        return []
    return [
        {"path": str(p.relative_to(root)), "sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(root.rglob("*.tsv"))
    ]


def run_data_files(store, data_dir: str | None) -> dict[str, list[dict]]:
    """run_id -> the data files it read (evaluation split and the training task's train file),
    each with its sha256."""
    from mbp.paths import data_dir as resolve
    from mbp.provenance import file_sha256
    from mbp.tasks import get_task
    from mbp.tasks.local import find_file

    root = resolve(data_dir)
    if root is None:
        return {}
    digests: dict = {}
    out: dict[str, list[dict]] = {}
    for run in store.runs().itertuples():
        info = get_task(run.task)
        try:  # where the examples came from, as the run's spec records it
            data = DataSpec.from_dict(json.loads(run.spec_json)["data"])
        except (TypeError, KeyError, ValueError):
            continue  # not a spec this version wrote (e.g. a test's hand-made run)
        task, lang, split = info, data.lang, data.split
        if data.source_task:  # importance on another task's data, e.g. MNLI train for XNLI
            task = get_task(data.source_task)
            lang = task.languages[0]
        if split == "heldout":
            split = task.train_split
        train = get_task(info.train_task)
        paths = {
            find_file(task, split, lang, root),
            find_file(train, train.train_split, "en", root),
        }
        files = []
        for path in sorted(p for p in paths if p is not None):
            if path not in digests:
                digests[path] = file_sha256(path)
            files.append({"path": str(path.relative_to(root)), "sha256": digests[path]})
        out[run.run_id] = files
    return out


def models_manifest() -> list[dict]:
    from mbp.models import MODELS, is_available, model_checksum

    return [
        {
            "model": name,
            "hub_id": info.hub_id,
            "checksum": model_checksum(name),
            "source": info.source,
        }
        for name, info in MODELS.items()
        if info.source == "offline" and is_available(name)
    ]


def precompute(args) -> None:
    plans = {"paper": paper_plan, "smoke": smoke_plan}
    if args.plan not in plans:
        raise MbpError(f"unknown plan {args.plan!r}: use paper or smoke")
    steps = plans[args.plan]()
    if getattr(args, "adopt", None) or getattr(args, "from_dir", None):
        from mbp.experiments.adopt import adopt_command

        adopt_command(args, steps)  # the whole plan: group closure looks at every step
        return
    if args.only:
        known = {s.name for s in steps}
        unknown = [name for name in args.only if name not in known]
        if unknown:
            raise MbpError(f"unknown plan step(s) {unknown}: choose from {sorted(known)}")
        steps = [s for s in steps if s.name in args.only]
    if args.status:
        print_status(args, steps)
        return
    if args.export_only:
        export(args, steps)
        return
    if not args.fresh:
        seed_from_export(args)
    if wants_backfill(args):
        backfill(args, steps)
        if not args.no_export:
            export(args, steps)
        return
    passthrough = []
    for flag in ("store", "data_dir"):
        value = getattr(args, flag)
        if value:
            passthrough += [f"--{flag.replace('_', '-')}", value]
    passthrough += ["--device", args.device]
    if args.executor != "local":  # each step's command keeps its own flags otherwise
        passthrough += executor_argv(args)
    if args.quiet:
        passthrough.append("--quiet")
    for i, step in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {step.command}", flush=True)
        result = subprocess.run([sys.executable, "-m", "mbp", *step.args, *passthrough])
        if result.returncode != 0:
            raise MbpError(
                f"plan step {step.name!r} failed (exit {result.returncode}): fix it and re-run; finished cells are kept"
            )
    if not args.no_export:
        export(args, steps)


def backfill(args, steps: list[Step]) -> int:
    """Per-example outcomes for the steps' finished runs that lack them (mbp.experiments.backfill),
    step by step; returns the runs given outcomes."""
    from mbp.paths import store_path
    from mbp.store import ResultsStore

    store = ResultsStore(store_path(args.store))
    chosen = step_runs(store.runs(), steps)
    total = 0
    for i, step in enumerate(steps, 1):
        runs = [r for r in chosen[step.name] if r is not None]
        if not runs:
            continue
        frame = store.runs(run_id=[r.run_id for r in runs])
        print(f"[{i}/{len(steps)}] {step.name}: outcomes for its finished runs", flush=True)
        total += backfill_runs(store, frame, data_dir=args.data_dir, progress=not args.quiet)
    print(f"outcomes added to {total} run(s)", flush=True)
    return total


def seed_from_export(args) -> dict[str, int] | None:
    """Merge the earlier export at `--out` into the store once, so a precompute resumes across
    machines and sessions (stores and caches are per machine; the export is in git): its
    finished cells are skipped and its unfinished runs continue. An export of this very store,
    or one it took before, is not merged again: a run deleted since is recomputed. A newer
    version of an export the store took before (e.g. after `mbp precompute --adopt`, whose
    store_id is a scratch store's) replaces the store's copies of its runs, as `mbp import DIR
    --replace`; the store's other runs stay."""
    from mbp.paths import store_path
    from mbp.store import ResultsStore, import_into
    from mbp.store.transfer import holds_other_version, recorded_export

    source = Path(args.out)
    try:
        manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    store = ResultsStore(store_path(args.store))
    marker = f"imported-export:{manifest.get('store_id')}@{manifest.get('exported_at')}"
    own = manifest.get("store_id") == store.meta_value("store_id")  # exported from this store
    if own or store.meta_value(marker):
        return None
    # a newer version of an export the store took replaces its copies of the export's runs (row
    # skips would keep stale ones); without a recorded version (a store seeded before stores
    # recorded them), a seed marker of this path says it took an older one
    if recorded_export(store, source) is not None:
        replace = holds_other_version(store, source)
    else:
        seeds = "SELECT 1 FROM meta WHERE starts_with(key, 'imported-export:') AND value = ?"
        replace = len(store.sql(seeds, [str(source.resolve())])) > 0
    added = import_into(store, source, replace=replace)
    store.set_meta_value(marker, str(source.resolve()))
    replaced = f", {added['replaced']} run(s) replaced by its newer version" if replace else ""
    print(
        f"resuming from {source}/: {added['runs']} runs and {added['cells']} cells added to the "
        f"store ({added['skipped']} rows already there{replaced})",
        flush=True,
    )
    return added


def print_status(args, steps: list[Step]) -> None:
    """The plan's progress in the store and the export at --out (read only)."""
    import pandas as pd

    from mbp.paths import store_path
    from mbp.store import ResultsStore

    path = store_path(args.store)
    frames = []
    if path.exists():
        store = ResultsStore(path, read_only=True)
        runs = store_runs_with_cell_seconds(store)
        frames.append(with_outcome_flags(runs, store.outcome_run_ids()))
    exported = Path(args.out)
    if not args.fresh and (exported / "runs.parquet").is_file():
        cells = pd.read_parquet(exported / "cells.parquet", columns=["run_id", "elapsed_s"])
        runs = runs_with_cell_seconds(pd.read_parquet(exported / "runs.parquet"), cells)
        outcomes = exported / "outcomes.parquet"  # an export before schema 6 has none
        have = pd.read_parquet(outcomes, columns=["run_id"])["run_id"] if outcomes.is_file() else []
        frames.append(with_outcome_flags(runs, have))
    runs = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["kind", "model", "task", "lang", "method", "status"])
    )
    rows = plan_status(runs, steps)
    print(pd.DataFrame(rows).to_string(index=False))
    done = sum(r["state"] == "done" for r in rows)
    rest = "re-run `mbp precompute` to continue" if done < len(rows) else "nothing left to run"
    print(f"{done} of {len(rows)} steps done; {rest}")
    estimated = [float(r["estimate"].lstrip("~")) for r in rows if r.get("estimate")]
    if estimated:
        print(f"estimated for {len(estimated)} unmeasured steps: ~{sum(estimated) / 60:.1f} h on "
              "one thread (their share of the measured minutes of the steps they repeat, plus "
              "their fine-tunes)")  # fmt: skip
    print_seed_spread(args, path)


def print_seed_spread(args, path: Path) -> None:
    """The fine-tuned dev scores' spread over training seeds, per recipe (store and export)."""
    import pandas as pd

    from mbp.analysis.training_seeds import dev_score_spread
    from mbp.store import ResultsStore

    frames = [ResultsStore(path, read_only=True).checkpoints()] if path.exists() else []
    exported = Path(args.out) / "checkpoints.parquet"
    if not args.fresh and exported.is_file():
        frames.append(pd.read_parquet(exported))
    frames = [f for f in frames if len(f)]
    if not frames:
        return
    ckpts = pd.concat(frames, ignore_index=True).drop_duplicates("ckpt_id")
    spread = dev_score_spread(ckpts)
    print("\nfine-tuned dev score over training seeds (per recipe):")
    print(spread.round(4).to_string(index=False))


def export(args, steps: list[Step]) -> Path:
    from mbp.paths import store_path
    from mbp.store import ResultsStore, export_store

    store = ResultsStore(store_path(args.store), read_only=True)
    extra = {
        "plan": args.plan,
        "plan_commands": [s.command for s in steps],
        "models": models_manifest(),
        "data_files": data_manifest(args.data_dir),
        "run_data_files": run_data_files(store, args.data_dir),
        "note": (
            "minilm-l6 (all-MiniLM-L6-v2) stands in for BERT and e5-small (multilingual-e5-small, "
            "dequantised from a 4-bit copy) for mBERT: both are sentence-embedding fine-tunes, "
            "not raw masked-LM checkpoints."
        ),
    }
    path = export_store(store, args.out, manifest_extra=extra)
    print(json.dumps({"exported": str(path)}))
    return path
