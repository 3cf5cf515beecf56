"""Run importance, sweep and layer-wise experiments cell by cell into the results store.

This is what the CLI (and so the dashboard's live runs and `mbp precompute`) executes:

    ctx = RunContext(store=ResultsStore(path), data_dir="../shared/data")
    params = RunParams("minilm-l6", "sst2", orders=("random",), seeds=(0, 1, 2))
    for exp in params.experiments():
        run_sweep(ctx, exp, order="random", seeds=params.seeds, grid=params.grid)

One loop for every kind: a run's spec gives its key, its `Work` gives its cells, the executor
computes the cells this process still owes, and each finished cell is written in its own
transaction as soon as it arrives; a re-run skips finished cells, `force` recomputes.
"""

from __future__ import annotations

import time
from dataclasses import replace

from tqdm.auto import tqdm

from mbp.errors import MbpError
from mbp.experiments import checkpoints
from mbp.experiments.cells import (
    CellResult,
    Evaluator,
    ImportanceWork,
    LayersWork,
    SweepWork,
    Work,
    iterative_rescorer,
)
from mbp.experiments.context import LoadedModel, RunContext
from mbp.experiments.costs import point_cost
from mbp.experiments.data import config_shape, eval_data, importance_data, tokenizer
from mbp.experiments.executor import Executor, LocalExecutor
from mbp.experiments.params import (
    ORDERS,
    RANKED_ORDERS,
    Experiment,
    check_floor,
    check_grid,
    parse_seeds,
)
from mbp.provenance import code_commit, portable_command, versions_json
from mbp.spec import DataSpec, RunSpec

# ------------------------------------------------------------------------------ the cell loop


def execute(
    ctx: RunContext,
    spec: RunSpec,
    work: Work,
    exp: Experiment,
    *,
    label: str,
    executor: Executor | None = None,
) -> dict[str, CellResult]:
    """Compute the cells of `work` this process owes and write each as it finishes.

    Returns the results computed here (cell id -> result); {} when everything was stored.
    """
    names = [cell.name for cell in work.cells]
    run_id = register(ctx, spec, len(names))
    finished = ctx.store.finished_cells(run_id)
    mine = set(ctx.mine(names))
    todo = [c for c in work.cells if c.name in mine and (ctx.force or c.name not in finished)]
    started = time.perf_counter()
    computed: dict[str, CellResult] = {}
    bar = tqdm(total=len(todo), desc=label, disable=not ctx.progress or not todo)

    def load() -> LoadedModel:
        nonlocal started
        loaded = load_model(ctx, exp)
        started = time.perf_counter()  # the run's own time: fine-tuning excluded
        return loaded

    def write(cell, result: CellResult) -> None:
        ctx.store.write_cell(
            run_id, cell.name, elapsed_s=result.elapsed_s, replace=ctx.force, **result.tables
        )
        computed[cell.name] = result
        bar.update(1)

    (executor or ctx.executor or LocalExecutor()).execute(work, todo, load=load, on_result=write)
    bar.close()
    done = ctx.store.finished_cells(run_id)
    status = "done" if set(names) <= done else "partial"
    ctx.store.finish_run(run_id, status=status, elapsed_s=time.perf_counter() - started)
    return computed


def register(ctx: RunContext, spec: RunSpec, cells_total: int) -> str:
    """Make sure the run's row exists (a forced run starts from no cells)."""
    run_id = spec.key
    if ctx.force:
        ctx.store.reset_run(run_id)
    ctx.store.ensure_run(
        run_id,
        spec.kind,
        spec.to_json(),
        model=spec.model,
        model_checksum=spec.model_checksum,
        task=spec.data.task,
        lang=spec.data.lang,
        split=spec.data.label,
        method=spec.method,
        seeds=_json_list(spec.seeds),
        n_examples=spec.data.n_examples,
        cells_total=cells_total,
        device=spec.device,
        versions_json=versions_json(),
        code_commit=code_commit(),
        command=portable_command(),
        protocol=spec.protocol,
    )
    if ctx.job_id:
        ctx.store.tag_job(run_id, ctx.job_id)
    return run_id


def all_stored(ctx: RunContext, run_id: str, cells: list[str]) -> bool:
    """Every cell of this process's share is in the store, so no model (and no fine-tune) is
    needed; a run whose every cell is stored is marked done (e.g. one killed before its end)."""
    if ctx.force:
        return False
    finished = ctx.store.finished_cells(run_id)
    if not set(ctx.mine(cells)) <= finished:
        return False
    if set(cells) <= finished and (ctx.store.runs(run_id=run_id).status != "done").any():
        ctx.store.finish_run(run_id, status="done")
    if ctx.job_id:  # a live job that finds its run finished still owns it
        ctx.store.tag_job(run_id, ctx.job_id)
    return True


def load_model(ctx: RunContext, exp: Experiment) -> LoadedModel:
    """The evaluated model on the run's device (fine-tuned first if needed), loaded once."""
    from mbp.engine.finetune import load_checkpoint
    from mbp.models import load_model as load_pretrained
    from mbp.tasks import get_task

    ckpt = checkpoints.checkpoint(ctx, exp)
    identity = ckpt.key if ckpt else f"raw:{exp.model}:{exp.task}"
    if identity not in ctx.models.models:
        if ckpt:
            model, tok = load_checkpoint(ckpt.path)
        else:
            task = get_task(exp.task)
            model, tok = load_pretrained(
                exp.model, num_labels=1 if task.labels is None else len(task.labels)
            )
        model.to(ctx.torch_device).eval()
        ctx.models.models[identity] = LoadedModel(model, tok, ckpt.key if ckpt else "", identity)
    return ctx.models.models[identity]


def base_spec(ctx: RunContext, exp: Experiment, kind: str, method: str, data: DataSpec) -> RunSpec:
    from mbp.engine.device import resolved_precision
    from mbp.models import model_checksum

    device = ctx.torch_device
    return RunSpec(
        kind=kind,
        model=exp.model,
        model_checksum=model_checksum(exp.model),
        checkpoint=checkpoints.checkpoint_key(ctx, exp),
        data=data,
        method=method,
        device=device.type,
        precision=resolved_precision(device, ctx.precision),
        batch_size=ctx.batch_size,
    )


def _evaluator(ctx: RunContext, exp: Experiment, data) -> Evaluator:
    from mbp.tasks import get_task

    return Evaluator(
        task=get_task(exp.task),
        encoded=data.encoded,
        data_key=data.spec.key,
        device=ctx.torch_device,
        precision=ctx.precision,
        batch_size=ctx.batch_size,
        cache=ctx.evals,
    )


def _prepare(ctx: RunContext, exp: Experiment) -> None:
    """Checks that need the store, before any data or model is loaded; all cores on CPU."""
    from mbp.engine.device import use_all_cores

    if exp.finetune.checkpoint:
        checkpoints.stored_checkpoint(ctx, exp)
    if ctx.torch_device.type == "cpu":
        use_all_cores()


def _json_list(values) -> str:
    import json

    return json.dumps(list(values))


# ------------------------------------------------------------------------------ importance


def run_importance(ctx: RunContext, exp: Experiment):
    """Score every head on held-out data and store the scores (one cell).

    Returns (run id, HeadImportance)."""
    from mbp.engine.importance import HeadImportance
    from mbp.tasks import get_task

    _prepare(ctx, exp)
    tok = tokenizer(ctx, exp)
    data = eval_data(ctx, exp, tok)
    imp_data, encoded = importance_data(ctx, exp, tok, data)
    spec = replace(
        base_spec(ctx, exp, "importance", exp.estimator, imp_data),
        estimator=exp.estimator,
        normalize=exp.normalize,
    )
    run_id = register(ctx, spec, cells_total=1)
    stored = ctx.store.head_importance(run_ids=[run_id])
    if all_stored(ctx, run_id, ["importance"]) and len(stored):
        normalization = "layer-l2" if spec.normalize else "none"
        return run_id, HeadImportance(scores_from_frame(stored), exp.estimator, normalization, 0)
    work = ImportanceWork(
        encoded=encoded,
        regression=get_task(exp.task).labels is None,
        estimator=exp.estimator,
        normalize=exp.normalize,
        seed=exp.data_seed,
        batch_size=ctx.batch_size,
        device=ctx.torch_device,
        precision=checkpoints.run_precision(ctx),
    )
    label = f"{exp.model} {exp.task}/{exp.lang} importance"
    computed = execute(ctx, spec, work, exp, label=label)
    if "importance" in computed:
        return run_id, computed["importance"].payload
    stored = ctx.store.head_importance(run_ids=[run_id])  # another shard computed it
    normalization = "layer-l2" if spec.normalize else "none"
    return run_id, HeadImportance(scores_from_frame(stored), exp.estimator, normalization, 0)


def scores_from_frame(frame):
    """(layers, heads) scores from stored rows (one row per head of the unpruned model)."""
    import torch

    layers, heads = int(frame["layer"].max()) + 1, int(frame["head"].max()) + 1
    scores = torch.zeros(layers, heads, dtype=torch.float64)
    for row in frame.itertuples():
        scores[int(row.layer), int(row.head)] = float(row.score)
    return scores


# ------------------------------------------------------------------------------ sweeps


def run_sweep(
    ctx: RunContext,
    exp: Experiment,
    *,
    order: str,
    seeds: tuple[int, ...] = (0,),
    grid: tuple[float, ...] | None = None,
    floor: int = 0,
) -> str:
    """Metric vs pruned fraction for one order (random: one curve per seed)."""
    from mbp.experiments.params import DEFAULT_GRID_TEXT, parse_grid

    if order not in ORDERS:
        raise MbpError(f"unknown order {order!r}: use one of {', '.join(ORDERS)}")
    grid = check_grid(grid) if grid is not None else parse_grid(DEFAULT_GRID_TEXT)
    seeds = parse_seeds(seeds, "--seeds")
    if not seeds:
        raise MbpError("--seeds is empty: give at least one, e.g. --seeds 0,1,2")
    seeds = seeds if order == "random" else (0,)
    _prepare(ctx, exp)
    tok = tokenizer(ctx, exp)
    data = eval_data(ctx, exp, tok)
    shape = config_shape(exp)
    check_floor(floor, shape[1], exp.model)
    spec, scores = sweep_spec(ctx, exp, data, order, seeds, grid, floor)
    work = SweepWork(
        order=order,
        seeds=seeds,
        grid=grid,
        floor=floor,
        shape=shape,
        scores=scores,
        evaluator=_evaluator(ctx, exp, data),
        n_examples=len(data.encoded.labels),
        cost=point_cost(exp.model, exp.task, data.encoded),
        rescore=_rescorer(ctx, exp, tok, data) if order == "iterative" else None,
    )
    if all_stored(ctx, spec.key, [c.name for c in work.cells]):
        return spec.key
    execute(ctx, spec, work, exp, label=f"{exp.model} {exp.task}/{exp.lang} {order}")
    return spec.key


def sweep_spec(
    ctx: RunContext,
    exp: Experiment,
    data,
    order: str,
    seeds: tuple[int, ...],
    grid: tuple[float, ...],
    floor: int,
    protocol: str = "posthoc",
):
    """(RunSpec, importance scores or None) of one order's sweep. Ranked orders score the heads
    first, on the unpruned fine-tuned model (under either protocol, as the 2020 paper did)."""
    importance_run, scores = "", None
    if order in RANKED_ORDERS:
        importance_run, result = run_importance(ctx, exp)
        scores = result.scores
    spec = replace(
        base_spec(ctx, exp, "sweep", order, data.spec),
        seeds=seeds,
        grid=grid,
        floor=floor,
        importance=importance_run,
        estimator=exp.estimator if scores is not None else "",
        normalize=exp.normalize if scores is not None else False,
        protocol=protocol,
    )
    return spec, scores


def _rescorer(ctx: RunContext, exp: Experiment, tok, data):
    """Ranking of the remaining heads with the removed ones gated off (the iterative order)."""
    from mbp.tasks import get_task

    _, encoded = importance_data(ctx, exp, tok, data)
    work = ImportanceWork(
        encoded=encoded,
        regression=get_task(exp.task).labels is None,
        estimator=exp.estimator,
        normalize=exp.normalize,
        seed=0,
        batch_size=ctx.batch_size,
        device=ctx.torch_device,
        precision=checkpoints.run_precision(ctx),
    )
    return iterative_rescorer(work)


# ------------------------------------------------------------------------------ layer-wise


def run_layers(ctx: RunContext, exp: Experiment) -> str:
    """The metric drop when all heads of one layer (or a bottom/middle/top third) are removed."""

    _prepare(ctx, exp)
    tok = tokenizer(ctx, exp)
    data = eval_data(ctx, exp, tok)
    spec = base_spec(ctx, exp, "layers", "remove-layer", data.spec)
    layers, heads = config_shape(exp)
    work = LayersWork(exp.layer_targets(layers), heads, _evaluator(ctx, exp, data))
    if all_stored(ctx, spec.key, [c.name for c in work.cells]):
        return spec.key
    execute(ctx, spec, work, exp, label=f"{exp.model} {exp.task}/{exp.lang} layers")
    return spec.key


# ------------------------------------------------------------------------------ retrain


def run_retrain(
    ctx: RunContext,
    exps: list[Experiment],
    *,
    kind: str,
    orders: tuple[str, ...] = ("random",),
    seeds: tuple[int, ...] = (0,),
    grid: tuple[float, ...] | None = None,
    floor: int = 0,
    keep_checkpoints: bool = False,
    stop_if_weak: bool = False,
) -> list[tuple[str, str, str]]:
    """The paper's protocol for every language and order at once: each distinct head set is
    fine-tuned once (heads removed from the pre-trained model) and evaluated on every language
    whose cells need it. Returns (run id, language, order) per run. `stop_if_weak`: refuse to
    start when the unpruned reference learnt nothing (the plan's steps ask for it: every cell
    costs a fine-tune)."""
    from collections import defaultdict

    from mbp.engine.prune import describe_heads
    from mbp.experiments.cells import layer_cells, sweep_cells
    from mbp.experiments.params import DEFAULT_GRID
    from mbp.experiments.retrain import RetrainWork, layer_target, sweep_target
    from mbp.tasks import get_task

    if kind not in ("sweep", "layers"):
        raise MbpError(f"--protocol retrain applies to sweep and layers runs, not {kind!r}")
    grid = check_grid(grid) if grid is not None else DEFAULT_GRID
    bad = [o for o in orders if o not in ORDERS or o == "iterative"]
    if bad:
        raise MbpError(f"order {bad[0]!r} has no retrain form: use importance, reverse or random")
    first = exps[0]
    _prepare(ctx, first)
    reference = checkpoints.finetune_spec(first, checkpoints.run_precision(ctx))
    if reference is None:
        raise MbpError("--protocol retrain fine-tunes every cell: drop --no-finetune")
    # the unpruned reference is the runs' checkpoint: trained (or found), recorded with its
    # weights hash, checked against the store, and flagged if weak, before any cell
    reference_ckpt = checkpoints.checkpoint(ctx, first)
    if stop_if_weak and checkpoints.is_weak(ctx, reference.task, reference_ckpt):
        raise MbpError(
            f"the unpruned reference ({first.model} fine-tuned on {reference.task}) scores "
            f"{reference_ckpt.metric} {reference_ckpt.dev_value:.3f}, within "
            f"{checkpoints.WEAK_MARGIN * 100:.0f} points of always answering the majority "
            "class: every retrained cell would rest on a model that learnt nothing; train "
            "longer (--train-examples, --epochs, --lr, --train-batch-size) and run again"
        )
    shape = config_shape(first)
    check_floor(floor, shape[1], first.model)
    tok = tokenizer(ctx, first)
    evals = {exp.lang: eval_data(ctx, exp, tok) for exp in exps}
    runs: list[tuple[RunSpec, list[str], str, str]] = []
    targets: dict[str, list] = defaultdict(list)
    heads: dict[str, dict] = {}
    for exp in exps:
        data = evals[exp.lang]
        if kind == "layers":
            spec = replace(
                base_spec(ctx, exp, "layers", "remove-layer", data.spec), protocol="retrain"
            )
            cells = layer_cells(exp.layer_targets(shape[0]), shape[1])
            made = [(spec, cells, layer_target, "remove-layer")]
        else:
            made = []
            for order in orders:
                order_seeds = tuple(parse_seeds(seeds)) if order == "random" else (0,)
                spec, scores = sweep_spec(
                    ctx, exp, data, order, order_seeds, grid, floor, protocol="retrain"
                )
                cells = sweep_cells(order, order_seeds, grid, floor, shape, scores)
                made.append((spec, cells, None, order))
        for spec, cells, make, method in made:
            runs.append((spec, [c.name for c in cells], exp.lang, method))
            for cell in cells:
                unit = describe_heads(cell.heads or {})
                heads[unit] = cell.heads or {}
                if make is None:
                    n = len(data.encoded.labels)
                    cost = point_cost(exp.model, exp.task, data.encoded)
                    target = sweep_target(spec.key, cell, exp.lang, n, cost)
                else:
                    target = make(spec.key, cell, exp.lang)
                targets[unit].append(target)

    # what is left: targets whose cell is not stored yet (this shard's units only)
    finished = {}
    for spec, names, _, _ in runs:
        register(ctx, spec, len(names))
        finished[spec.key] = set() if ctx.force else ctx.store.finished_cells(spec.key)
    pending = {
        unit: [t for t in group if t.cell_id not in finished[t.run_id]]
        for unit, group in targets.items()
    }
    mine = set(ctx.mine(sorted(pending)))
    pending = {u: g for u, g in pending.items() if g and u in mine}
    work = RetrainWork(
        reference=reference,
        task=get_task(first.task),
        evals=evals,
        targets=pending,
        heads={u: heads[u] for u in pending},
        data_dir=ctx.data_dir,
        device=ctx.torch_device,
        precision=ctx.precision,
        batch_size=ctx.batch_size,
        progress=ctx.progress,
        keep_checkpoints=keep_checkpoints,
    )
    started = time.perf_counter()
    label = f"{first.model} {first.task} retrain ({len(work.cells)} fine-tunes)"
    bar = tqdm(total=len(work.cells), desc=label, disable=not ctx.progress or not work.cells)

    def write(cell, result: CellResult) -> None:
        for w in result.writes:
            ctx.store.write_cell(
                w.run_id, w.cell_id, elapsed_s=w.elapsed_s, replace=ctx.force, **w.tables
            )
        bar.update(1)

    (ctx.executor or LocalExecutor()).execute(work, work.cells, load=lambda: None, on_result=write)
    bar.close()
    out = []
    for spec, names, lang, method in runs:
        done = ctx.store.finished_cells(spec.key)
        status = "done" if set(names) <= done else "partial"
        ctx.store.finish_run(spec.key, status=status, elapsed_s=time.perf_counter() - started)
        out.append((spec.key, lang, method))
    return out
