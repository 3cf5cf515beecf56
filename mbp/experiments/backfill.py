"""Per-example outcomes for finished runs stored before outcomes were (store schema < 6).

    mbp precompute --backfill-outcomes            # every plan step's finished runs lacking them
    mbp precompute --backfill-outcomes --only xnli-en

Each run's models are evaluated again exactly as the run did: the same model and fine-tune (its
cached checkpoint, else re-fine-tuned from the same spec and seed and checked against the
store's record of it), the same examples, device, precision and batch size, and the head sets
the store records for each cell. Every recomputed metric must equal the stored one (within
`TOLERANCE`, i.e. the same prediction counts) before anything is written; then ONLY the run's
outcome rows are added, in one transaction. A mismatch stops with one line naming the run, the
cell and both values, and writes nothing for that run. Runs that have their outcomes are
skipped, so a stopped backfill resumes.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from mbp.errors import MbpError
from mbp.store.outcomes import UNPRUNED

#: The `mbp precompute` option (one definition: the CLI adds it, precompute reads it).
BACKFILL_FLAG = "--backfill-outcomes"
BACKFILL_HELP = (
    "add per-example outcomes to the plan's finished runs that lack them (recomputed and "
    "checked against every stored metric; nothing else is written), then export"
)
#: A recomputed metric counts as the stored one within this (same predictions, same value).
TOLERANCE = 1e-9

HeadSet = dict[int, list[int]]


def add_backfill_flag(parser) -> None:
    parser.add_argument(BACKFILL_FLAG, action="store_true", help=BACKFILL_HELP)


def wants_backfill(args) -> bool:
    return bool(getattr(args, BACKFILL_FLAG.lstrip("-").replace("-", "_"), False))


@dataclass(frozen=True)
class StoredModel:
    """One evaluated model of a stored run: its outcome key, heads removed, stored metrics."""

    model_key: str  # the cell id ("random/0/0.3", "layer:2") or UNPRUNED
    heads: HeadSet
    expected: dict[str, float]  # metric -> value as stored


# ------------------------------------------------------------------------------ what is missing


def _heads(pairs_json: str) -> HeadSet:
    heads: HeadSet = defaultdict(list)
    for layer, head in json.loads(pairs_json or "[]"):
        heads[int(layer)].append(int(head))
    return dict(heads)


def stored_models(store, run_id: str, kind: str, heads_per_layer: int | None) -> list[StoredModel]:
    """Every model a finished sweep or layer-wise run evaluated, from its stored rows."""
    if kind == "sweep":
        points = store.curve_points(run_ids=[run_id])
        out = []
        for (order, seed, fraction), part in points.groupby(
            ["order_name", "seed", "fraction"], sort=True
        ):
            key = f"{order}/{int(seed)}/{float(fraction):g}"
            out.append(StoredModel(key, _heads(part["pruned_heads"].iloc[0]),
                                   dict(zip(part["metric"], part["value"], strict=True))))  # fmt: skip
        return out
    if kind == "layers":
        drops = store.layer_importance(run_ids=[run_id])
        if drops.empty:
            return []
        if heads_per_layer is None:
            raise MbpError(f"run {run_id}: the model's heads per layer are unknown")
        every = list(range(heads_per_layer))
        out = [StoredModel(UNPRUNED, {}, dict(drops.groupby("metric")["base_value"].first()))]
        for target, part in drops.groupby("target", sort=True):
            heads = {int(layer): every for layer in json.loads(part["layers"].iloc[0])}
            out.append(StoredModel(str(target), heads,
                                   dict(zip(part["metric"], part["value"], strict=True))))  # fmt: skip
        return out
    return []  # importance runs evaluate no model


def missing_models(store, run, heads_per_layer: int | None) -> list[StoredModel]:
    """The run's evaluated models that have no outcome row yet."""
    have = set(store.outcomes(run_ids=[run.run_id])["model_key"])
    return [m for m in stored_models(store, run.run_id, run.kind, heads_per_layer)
            if m.model_key not in have]  # fmt: skip


def check_metrics(run_id: str, model_key: str, got: dict[str, float], expected: dict) -> None:
    """Refuse (one line: run, cell, both values) a recomputed metric that is not the stored."""
    for metric, value in expected.items():
        new = got.get(metric)
        if new is None or not abs(float(new) - float(value)) <= TOLERANCE:
            raise MbpError(
                f"run {run_id} cell {model_key}: {metric} recomputed as {new!r} but stored as "
                f"{float(value)!r}: no outcomes written for this run; recompute it where it was "
                "made (same machine, libraries and checkpoint), or re-run its step with --force"
            )


# ------------------------------------------------------------------------------ recomputing


class _LookupsOnly:
    """The store as the recomputation's context sees it: reads pass through, and the fine-tune
    record a (re-)fine-tune would write is skipped (it was checked against the stored one)."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def record_checkpoint(self, *args, **kwargs) -> None:
        return None


@dataclass
class _Run:
    row: Any  # a store.runs() row
    spec: Any  # RunSpec
    exp: Any  # Experiment
    missing: list[StoredModel]


def _context(store, spec, data_dir: str | None, progress: bool):
    from mbp.experiments.context import RunContext

    return RunContext(store=_LookupsOnly(store), data_dir=data_dir, device=spec.device,
                      precision=spec.precision, batch_size=spec.batch_size,
                      progress=progress)  # fmt: skip


def _experiment(row, spec):
    """The run's Experiment, rebuilt from the command that made it."""
    from mbp.experiments.flags import parse_command

    parsed = parse_command(str(row.command or ""))
    if parsed is None:
        raise MbpError(
            f"run {row.run_id}: its recorded command {row.command!r} is not a run command this "
            "mbp reads, so its models cannot be rebuilt: re-run it with --force instead"
        )
    return parsed[1].with_(langs=(row.lang,)).experiments()[0]


def _check_same_run(ctx, run: _Run, data) -> None:
    """The rebuilt experiment must be the stored run: same model, fine-tune and examples."""
    from mbp.experiments import checkpoints
    from mbp.models import model_checksum

    rebuilt = {
        "model_checksum": model_checksum(run.exp.model),
        "checkpoint": checkpoints.checkpoint_key(ctx, run.exp),
        "data": data.spec.key,
    }
    stored = {"model_checksum": run.spec.model_checksum, "checkpoint": run.spec.checkpoint,
              "data": run.spec.data.key}  # fmt: skip
    for name, value in rebuilt.items():
        if value != stored[name]:
            raise MbpError(
                f"run {run.row.run_id}: its command rebuilds {name} {value!r}, but the run "
                f"stored {stored[name]!r}: the model, recipe or data changed since; re-run the "
                "step with --force instead"
            )


def _posthoc(store, run: _Run, data_dir: str | None, progress: bool) -> list[dict]:
    """Outcome rows of a posthoc run's missing models, each checked against its metrics."""
    from mbp.experiments.cells import Evaluator
    from mbp.experiments.data import eval_data, tokenizer
    from mbp.experiments.runner import load_model
    from mbp.tasks import get_task

    ctx = _context(store, run.spec, data_dir, progress)
    data = eval_data(ctx, run.exp, tokenizer(ctx, run.exp))
    _check_same_run(ctx, run, data)
    loaded = load_model(ctx, run.exp)  # the cached checkpoint, else the same fine-tune again
    evaluator = Evaluator(task=get_task(run.exp.task), encoded=data.encoded,
                          data_key=data.spec.key, device=ctx.torch_device,
                          precision=ctx.precision, batch_size=ctx.batch_size,
                          cache=ctx.evals)  # fmt: skip
    rows = []
    for model in run.missing:
        got = evaluator.metrics(loaded, model.heads)
        check_metrics(run.row.run_id, model.model_key, got, model.expected)
        rows.append(evaluator.outcome(model.model_key, loaded, model.heads))
    return rows


def _retrain(store, runs: list[_Run], data_dir: str | None, progress: bool, write) -> None:
    """Retrain runs sharing one unpruned reference: each distinct head set is fine-tuned once
    (its checkpoint reused where the cache keeps it) and evaluated on every run needing it;
    each run is written (`write(run_id, rows)`) once all its models are checked."""
    from mbp.engine.finetune import checkpoint_dir, find_checkpoint
    from mbp.engine.prune import describe_heads
    from mbp.experiments import checkpoints
    from mbp.experiments.data import eval_data, tokenizer
    from mbp.experiments.retrain import RetrainWork, Target
    from mbp.store.outcomes import outcome_row
    from mbp.tasks import get_task

    first = runs[0]
    ctx = _context(store, first.spec, data_dir, progress)
    tok = tokenizer(ctx, first.exp)
    evals = {}
    for run in runs:
        evals[run.exp.lang] = eval_data(ctx, run.exp, tok)
        _check_same_run(ctx, run, evals[run.exp.lang])
    checkpoints.checkpoint(ctx, first.exp)  # the reference: found, or trained and checked
    reference = checkpoints.finetune_spec(first.exp, checkpoints.run_precision(ctx))
    targets: dict[str, list] = defaultdict(list)
    heads: dict[str, HeadSet] = {}
    expected: dict[tuple[str, str], dict] = {}
    for run in runs:
        table = "curve_points" if run.spec.kind == "sweep" else "layer_importance"
        for model in run.missing:
            expected[run.row.run_id, model.model_key] = model.expected
            if model.model_key == UNPRUNED:
                continue  # the reference's own predictions, below
            unit = describe_heads(model.heads)
            heads[unit] = model.heads
            targets[unit].append(Target(run.row.run_id, model.model_key, run.exp.lang, table, {}))
    task = get_task(first.exp.task)
    work = RetrainWork(reference=reference, task=task, evals=evals, targets=dict(targets),
                       heads=heads, data_dir=ctx.data_dir, device=ctx.torch_device,
                       precision=ctx.precision, batch_size=ctx.batch_size, progress=progress,
                       keep_checkpoints=True)  # fmt: skip
    rows: dict[str, list[dict]] = defaultdict(list)
    todo = {run.row.run_id: len(run.missing) for run in runs}
    lang_of = {run.row.run_id: run.exp.lang for run in runs}

    def done(run_id: str, outcome: dict) -> None:
        rows[run_id].append(outcome)
        todo[run_id] -= 1
        if todo[run_id] == 0:
            write(run_id, rows.pop(run_id))

    for run_id, lang in lang_of.items():  # a layer-wise run's unpruned model
        if (run_id, UNPRUNED) in expected:
            check_metrics(run_id, UNPRUNED, work.base_metrics(lang), expected[run_id, UNPRUNED])
            labels = evals[lang].encoded.labels
            done(run_id, outcome_row(UNPRUNED, work.base_predictions(lang), labels,
                                     task.labels is None))  # fmt: skip
    for cell in work.cells:
        spec = work.spec_for(cell.heads or {})
        made_here = bool(spec.pruned_heads) and find_checkpoint(spec) is None
        result = work.compute(cell)
        if made_here:  # kept only if it was already kept (another step may reuse it)
            shutil.rmtree(checkpoint_dir(spec), ignore_errors=True)
        for w in result.writes:
            table_rows = next(iter(t for name, t in w.tables.items() if name != "outcomes"))
            got = {r["metric"]: r["value"] for r in table_rows}
            check_metrics(w.run_id, w.cell_id, got, expected[w.run_id, w.cell_id])
            done(w.run_id, next(o for o in w.tables["outcomes"] if o["model_key"] == w.cell_id))


def backfill_runs(store, runs, *, data_dir: str | None = None, progress: bool = False) -> int:
    """Add the missing outcomes of the finished sweep and layer-wise `runs` (store.runs() rows);
    returns the runs given outcomes. Stops at the first mismatch (MbpError), with every run
    completed before it written and nothing of that run."""
    from mbp.experiments.data import config_shape
    from mbp.spec import RunSpec

    todo: list[_Run] = []
    for row in runs.itertuples():
        if row.kind not in ("sweep", "layers") or row.status != "done":
            continue
        spec = RunSpec.from_dict(json.loads(row.spec_json))
        exp = _experiment(row, spec)
        missing = missing_models(store, row, config_shape(exp)[1])
        if missing:
            todo.append(_Run(row, spec, exp, missing))
    written = 0

    def write(run_id: str, rows: list[dict]) -> None:
        nonlocal written
        store.add_outcomes(run_id, rows)
        written += 1
        print(f"run {run_id}: {len(rows)} outcome rows added (every metric matched)", flush=True)

    retrain: dict[tuple, list[_Run]] = defaultdict(list)
    for run in todo:
        if run.spec.protocol == "retrain":  # one reference and one set of examples per group
            data = run.spec.data
            retrain[run.spec.checkpoint, data.split, data.n_examples, data.seed].append(run)
        else:
            write(run.row.run_id, _posthoc(store, run, data_dir, progress))
    for group in retrain.values():
        _retrain(store, group, data_dir, progress, write)
    return written
