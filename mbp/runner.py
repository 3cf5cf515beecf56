"""Run importance, sweep and layer-wise experiments cell by cell into the results store.

This is what the CLI (and so the dashboard's live runs and `mbp precompute`) executes:

    ctx = RunContext(store=ResultsStore(path), data_dir="../shared/data")
    run_sweep(ctx, Experiment("minilm-l6", "sst2", "en", n_examples=500), order="random",
              seeds=(0, 1, 2))

Each cell (one grid point x seed, one layer target, one importance computation) is written in
its own transaction as soon as it finishes; a re-run skips finished cells, `force` recomputes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from mbp.engine.device import resolve_device, resolved_precision, use_all_cores
from mbp.engine.evaluate import evaluate
from mbp.engine.finetune import Checkpoint, finetune, load_checkpoint
from mbp.engine.gate import gate_from_heads
from mbp.engine.importance import HeadImportance, head_importance
from mbp.engine.layout import config_shape, model_shape
from mbp.engine.orders import (
    DEFAULT_GRID,
    check_grid,
    heads_at_fraction,
    layer_targets,
    prune_order,
)
from mbp.engine.prune import describe_heads, prune_heads
from mbp.errors import MbpError
from mbp.provenance import code_commit, command_line, versions_json
from mbp.spec import DataSpec, FinetuneSpec, RunSpec

ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FinetuneOptions:
    train_examples: int = 0
    epochs: float = 3.0
    lr: float = 2e-5
    batch_size: int = 32
    max_length: int = 128
    seed: int = 0
    freeze_embeddings: bool = False
    enabled: bool = True  # False: use the model as it is (e.g. an already fine-tuned directory)


@dataclass(frozen=True)
class Experiment:
    """What is measured: a model on one language of one task's evaluation split."""

    model: str
    task: str
    lang: str = "en"
    split: str = ""  # "" = the task's first evaluation split
    n_examples: int = 500
    data_seed: int = 0
    max_length: int = 128
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)
    importance_examples: int = 256
    estimator: str = "gradient"
    normalize: bool = False


@dataclass
class RunContext:
    store: object  # mbp.store.ResultsStore
    data_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    force: bool = False
    progress: bool = True
    shard: tuple[int, int] = (0, 1)  # (index, count)
    _models: dict = field(default_factory=dict)
    _evals: dict = field(default_factory=dict)

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)


# ---------------------------------------------------------------- models and data


def _finetune_spec(exp: Experiment) -> FinetuneSpec | None:
    """What fine-tuning `exp` needs (None: the model is used as it is). Cheap: trains nothing."""
    from mbp.models import model_checksum
    from mbp.tasks import get_task

    if not exp.finetune.enabled:
        return None
    opts = exp.finetune
    return FinetuneSpec(
        model=exp.model,
        model_checksum=model_checksum(exp.model),
        task=get_task(exp.task).train_task,
        train_examples=opts.train_examples,
        epochs=opts.epochs,
        lr=opts.lr,
        batch_size=opts.batch_size,
        max_length=opts.max_length,
        seed=opts.seed,
        freeze_embeddings=opts.freeze_embeddings,
    )


def _checkpoint_key(exp: Experiment) -> str:
    spec = _finetune_spec(exp)
    return spec.key if spec else ""


def _checkpoint(ctx: RunContext, exp: Experiment) -> Checkpoint | None:
    """The fine-tuned checkpoint for (model, training task), training it if needed."""
    spec = _finetune_spec(exp)
    if spec is None:
        return None
    ckpt = finetune(
        spec,
        data_dir=ctx.data_dir,
        device=ctx.device,
        precision=ctx.precision,
        progress=ctx.progress,
    )
    _check_same_checkpoint(ctx, exp, ckpt)
    ctx.store.record_checkpoint(
        ckpt.key,
        model=exp.model,
        task=spec.task,
        spec_json=spec.to_json(),
        path=str(ckpt.path),
        metric=ckpt.metric,
        dev_value=ckpt.dev_value,
        n_train=ckpt.n_train,
    )
    return ckpt


def _check_same_checkpoint(ctx: RunContext, exp: Experiment, ckpt: Checkpoint) -> None:
    """Stored runs name their checkpoint by its spec key; a checkpoint retrained on another
    machine (an imported store) must score what the stored one did, or new cells would mix two
    models under one run."""
    stored = ctx.store.checkpoints()
    stored = stored[stored["ckpt_id"] == ckpt.key] if len(stored) else stored
    if len(stored) and abs(float(stored["dev_value"].iloc[0]) - ckpt.dev_value) > 1e-9:
        raise MbpError(
            f"fine-tuned checkpoint {ckpt.key} ({exp.model}) scores {ckpt.dev_value:.6f} here but "
            f"{float(stored['dev_value'].iloc[0]):.6f} in the store, so this machine's fine-tune "
            "did not reproduce it: continue where it was trained, or use a new store "
            "(--store NEW, and --fresh for precompute)"
        )


def _tokenizer(ctx: RunContext, exp: Experiment):
    """The model's tokenizer (a fine-tuned checkpoint saves the same one), loaded once; enough
    to know a run's key and cells without loading weights or fine-tuning."""
    from transformers import AutoTokenizer

    from mbp.models import resolve_model

    key = ("tokenizer", exp.model)
    if key not in ctx._models:
        source = resolve_model(exp.model)
        ctx._models[key] = AutoTokenizer.from_pretrained(
            source.location, local_files_only=source.local, trust_remote_code=False
        )
    return ctx._models[key]


def _all_stored(ctx: RunContext, run_id: str, cells: list[str]) -> bool:
    """Every cell of this process's share is in the store, so no model (and no fine-tune) is
    needed; a run whose every cell is stored is marked done (e.g. one killed before its end)."""
    if ctx.force:
        return False
    finished = ctx.store.finished_cells(run_id)
    if not set(_mine(ctx, cells)) <= finished:
        return False
    if set(cells) <= finished and (ctx.store.runs(run_id=run_id).status != "done").any():
        ctx.store.finish_run(run_id, status="done")
    return True


def _model(ctx: RunContext, exp: Experiment):
    """(model on device, tokenizer, checkpoint key), loaded once per process."""
    from mbp.models import load_model
    from mbp.tasks import get_task

    ckpt = _checkpoint(ctx, exp)
    key = str(ckpt.path) if ckpt else f"raw:{exp.model}:{exp.task}"
    if key not in ctx._models:
        if ckpt:
            model, tokenizer = load_checkpoint(ckpt.path)
        else:
            task = get_task(exp.task)
            n = 1 if task.labels is None else len(task.labels)
            model, tokenizer = load_model(exp.model, num_labels=n)
        model.to(ctx.torch_device).eval()
        ctx._models[key] = (model, tokenizer, ckpt.key if ckpt else "")
    return ctx._models[key]


def _eval_split(exp: Experiment) -> str:
    from mbp.tasks import get_task

    return exp.split or get_task(exp.task).eval_splits[0]


def _eval_data(ctx: RunContext, exp: Experiment, tokenizer):
    """(DataSpec, full examples, subset examples, encoded subset) for the evaluation."""
    from mbp.tasks import encode, load_examples, subsample

    if exp.n_examples <= 0:
        raise MbpError(f"--examples {exp.n_examples} must be positive: e.g. --examples 500")
    split = _eval_split(exp)
    full = load_examples(exp.task, split, lang=exp.lang, data_dir=ctx.data_dir)
    subset = subsample(full, exp.n_examples, exp.data_seed)
    data = DataSpec(exp.task, exp.lang, split, len(subset.labels), exp.data_seed, exp.max_length)
    return data, full, subset, encode(tokenizer, subset, exp.max_length)


def _importance_data(ctx: RunContext, exp: Experiment, tokenizer, full, subset):
    """Examples to score heads on, disjoint from the evaluated ones.

    XNLI: the same language's dev pairs that are NOT evaluated (per-language importance);
    GLUE: the training split. Falls back to the training task's train split when the dev
    complement is empty (every pair evaluated).
    """
    from mbp.tasks import complement, encode, get_task, load_examples, subsample

    task = get_task(exp.task)
    n = exp.importance_examples
    if n <= 0:
        raise MbpError(f"--importance-examples {n} must be positive: e.g. 256")
    source = None
    if task.name == "xnli":
        rest = complement(full, subset)
        if len(rest.labels) > 0:
            source, label = rest, f"{full.split}-heldout"
    if source is None:
        source = load_examples(task.train_task, task.train_split, data_dir=ctx.data_dir)
        label = f"{task.train_task}:{task.train_split}"
    chosen = subsample(source, n, exp.data_seed + 1)
    return label, encode(tokenizer, chosen, exp.max_length)


def _run_common(ctx: RunContext, spec: RunSpec, cells_total: int) -> str:
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
        split=spec.data.split,
        method=spec.method,
        seeds=json.dumps(list(spec.seeds)),
        n_examples=spec.data.n_examples,
        cells_total=cells_total,
        device=spec.device,
        versions_json=versions_json(),
        code_commit=code_commit(),
        command=command_line(),
    )
    return run_id


def _base_spec(ctx: RunContext, exp: Experiment, kind: str, method: str, data: DataSpec, ckpt: str):
    from mbp.models import model_checksum

    device = ctx.torch_device
    return RunSpec(
        kind=kind,
        model=exp.model,
        model_checksum=model_checksum(exp.model),
        checkpoint=ckpt,
        data=data,
        method=method,
        device=device.type,
        precision=resolved_precision(device, ctx.precision),
        batch_size=ctx.batch_size,
    )


def _finish(ctx: RunContext, run_id: str, all_cells: list[str], started: float) -> str:
    done = ctx.store.finished_cells(run_id)
    status = "done" if set(all_cells) <= done else "partial"
    ctx.store.finish_run(run_id, status=status, elapsed_s=time.perf_counter() - started)
    return status


def _mine(ctx: RunContext, cells: list[str]) -> list[str]:
    index, count = ctx.shard
    return [c for i, c in enumerate(cells) if i % count == index]


# ---------------------------------------------------------------- importance


def run_importance(ctx: RunContext, exp: Experiment) -> tuple[str, HeadImportance]:
    """Score every head on held-out data and store the scores (one cell)."""
    if ctx.torch_device.type == "cpu":
        use_all_cores()
    tokenizer = _tokenizer(ctx, exp)
    data, full, subset, _ = _eval_data(ctx, exp, tokenizer)
    label, encoded = _importance_data(ctx, exp, tokenizer, full, subset)
    imp_data = replace(data, split=label, n_examples=len(encoded.labels), seed=exp.data_seed + 1)
    spec = replace(
        _base_spec(ctx, exp, "importance", exp.estimator, imp_data, _checkpoint_key(exp)),
        estimator=exp.estimator,
        normalize=exp.normalize,
    )
    run_id = _run_common(ctx, spec, cells_total=1)
    started = time.perf_counter()
    stored = ctx.store.head_importance(run_ids=[run_id])
    if _all_stored(ctx, run_id, ["importance"]) and len(stored):
        scores = _scores_from_frame(stored)
        result = HeadImportance(scores, exp.estimator, "layer-l2" if spec.normalize else "none", 0)
    else:
        from mbp.tasks import get_task

        model, tokenizer, _ = _model(ctx, exp)
        started = time.perf_counter()  # the run's own time: fine-tuning excluded
        result = head_importance(
            model,
            encoded,
            regression=get_task(exp.task).labels is None,
            pad_id=tokenizer.pad_token_id or 0,
            estimator=exp.estimator,
            normalize=exp.normalize,
            seed=exp.data_seed,
            batch_size=min(ctx.batch_size, 32),
            device=ctx.torch_device,
            precision="fp32",
        )
        layers, heads = result.scores.shape
        rows = [
            {
                "layer": layer,
                "head": head,
                "score": float(result.scores[layer, head]),
                "estimator": result.estimator,
                "normalization": result.normalization,
                "n_examples": result.n_examples,
            }
            for layer in range(layers)
            for head in range(heads)
        ]
        ctx.store.write_cell(
            run_id,
            "importance",
            elapsed_s=time.perf_counter() - started,
            head_importance=rows,
            replace=ctx.force,
        )
    _finish(ctx, run_id, ["importance"], started)
    return run_id, result


def _scores_from_frame(frame) -> torch.Tensor:
    """(layers, heads) scores from stored rows (one row per head of the unpruned model)."""
    layers, heads = int(frame["layer"].max()) + 1, int(frame["head"].max()) + 1
    scores = torch.zeros(layers, heads, dtype=torch.float64)
    for row in frame.itertuples():
        scores[int(row.layer), int(row.head)] = float(row.score)
    return scores


# ---------------------------------------------------------------- evaluation with memo


def _evaluate_heads(ctx: RunContext, model, tokenizer, encoded, task, data_key: str, heads):
    """Metrics with `heads` structurally removed.

    Identical head sets are evaluated once per process (0 % and 100 % are the same for every
    order and seed), and layers below the first changed one are not recomputed: their hidden
    states come from one unpruned pass (`PrefixCache`).
    """
    from mbp.engine.evaluate import predictions_from_logits
    from mbp.engine.prefix import PrefixCache
    from mbp.tasks import compute_metrics

    key = (id(model), data_key, describe_heads(heads))
    if key in ctx._evals:
        return ctx._evals[key]
    cache_key = ("prefix", id(model), data_key)
    if cache_key not in ctx._evals:
        ctx._evals[cache_key] = PrefixCache.build(
            model,
            encoded,
            pad_id=tokenizer.pad_token_id or 0,
            batch_size=ctx.batch_size,
            device=ctx.torch_device,
            precision=ctx.precision,
        )
    prefix = ctx._evals[cache_key]
    pruned = prune_heads(model, heads) if heads else model
    if prefix is not None:
        first = min(heads) if heads else len(prefix.states)
        logits = prefix.logits(pruned, first)
        preds = predictions_from_logits(logits, task.labels is None)
        metrics = compute_metrics(task, preds, np.asarray(encoded.labels))
    else:
        metrics = evaluate(
            pruned,
            encoded,
            task,
            pad_id=tokenizer.pad_token_id or 0,
            batch_size=ctx.batch_size,
            device=ctx.torch_device,
            precision=ctx.precision,
        )
    ctx._evals[key] = metrics
    return metrics


def _curve_rows(order: str, seed: int, fraction: float, heads, metrics, n: int) -> list[dict]:
    count = sum(len(h) for h in heads.values())
    return [
        {
            "order_name": order,
            "seed": seed,
            "fraction": fraction,
            "heads_pruned": count,
            "pruned_heads": describe_heads(heads),
            "metric": name,
            "value": float(value),
            "n_examples": n,
        }
        for name, value in metrics.items()
    ]


# ---------------------------------------------------------------- sweeps


def run_sweep(
    ctx: RunContext,
    exp: Experiment,
    *,
    order: str,
    seeds: tuple[int, ...] = (0,),
    grid: tuple[float, ...] = DEFAULT_GRID,
    floor: int = 0,
    on_cell: ProgressHook | None = None,
) -> str:
    """Metric vs pruned fraction for one order (random: one curve per seed)."""
    from mbp.tasks import get_task

    grid = check_grid(grid)
    if not seeds or any(int(s) < 0 for s in seeds):
        raise MbpError(f"seeds {list(seeds)} must be non-negative integers: e.g. --seeds 0 1 2")
    seeds = tuple(int(s) for s in seeds) if order == "random" else (0,)
    if ctx.torch_device.type == "cpu":
        use_all_cores()
    task = get_task(exp.task)
    tokenizer = _tokenizer(ctx, exp)
    data, full, subset, encoded = _eval_data(ctx, exp, tokenizer)
    importance_run = ""
    scores = None
    if order in ("importance", "reverse", "iterative"):
        importance_run, result = run_importance(ctx, exp)
        scores = result.scores
    spec = replace(
        _base_spec(ctx, exp, "sweep", order, data, _checkpoint_key(exp)),
        seeds=seeds,
        grid=grid,
        floor=floor,
        importance=importance_run,
        estimator=exp.estimator if scores is not None else "",
        normalize=exp.normalize if scores is not None else False,
    )
    cells = [f"{order}/{seed}/{fraction:g}" for seed in seeds for fraction in grid]
    if _all_stored(ctx, spec.key, cells):
        return spec.key
    run_id = _run_common(ctx, spec, cells_total=len(cells))
    todo = set(_mine(ctx, cells)) - ctx.store.finished_cells(run_id)
    model, tokenizer, _ = _model(ctx, exp)
    started = time.perf_counter()  # the run's own time: fine-tuning excluded
    layers, n_heads = model_shape(model)
    n = len(encoded.labels)
    bar = tqdm(
        total=len(todo), desc=f"{exp.model} {exp.task}/{exp.lang} {order}", disable=not ctx.progress
    )
    done = 0
    for seed in seeds:
        heads: dict[int, list[int]] = {}
        ranking = prune_order(
            scores,
            order if order != "iterative" else "importance",
            seed=seed,
            shape=(layers, n_heads),
        )
        for fraction in grid:
            if order == "iterative" and heads:
                # re-score the remaining heads with the already pruned ones gated off
                ranking = _rescored_ranking(ctx, exp, model, tokenizer, full, subset, heads)
            heads = heads_at_fraction(
                ranking,
                fraction,
                layers=layers,
                heads=n_heads,
                floor=floor,
                already=heads if order == "iterative" else None,
            )
            cell = f"{order}/{seed}/{fraction:g}"
            if cell not in todo:
                continue
            t0 = time.perf_counter()
            metrics = _evaluate_heads(ctx, model, tokenizer, encoded, task, data.key, heads)
            ctx.store.write_cell(
                run_id,
                cell,
                elapsed_s=time.perf_counter() - t0,
                curve_points=_curve_rows(order, seed, fraction, heads, metrics, n),
                replace=ctx.force,
            )
            done += 1
            bar.update(1)
            if on_cell:
                on_cell(cell, done, len(todo))
    bar.close()
    _finish(ctx, run_id, cells, started)
    return run_id


def _rescored_ranking(ctx, exp, model, tokenizer, full, subset, heads) -> list[tuple[int, int]]:
    from mbp.tasks import get_task

    layers, n_heads = model_shape(model)
    _, encoded = _importance_data(ctx, exp, tokenizer, full, subset)
    result = head_importance(
        model,
        encoded,
        regression=get_task(exp.task).labels is None,
        pad_id=tokenizer.pad_token_id or 0,
        estimator=exp.estimator if exp.estimator != "random" else "gradient",
        normalize=exp.normalize,
        batch_size=min(ctx.batch_size, 32),
        device=ctx.torch_device,
        precision="fp32",
        base_gate=gate_from_heads(heads, layers, n_heads),
    )
    return prune_order(result.scores, "importance")


# ---------------------------------------------------------------- layer-wise


def run_layers(ctx: RunContext, exp: Experiment, on_cell: ProgressHook | None = None) -> str:
    """The metric drop when all heads of one layer (or a bottom/middle/top third) are removed."""
    from mbp.tasks import get_task

    if ctx.torch_device.type == "cpu":
        use_all_cores()
    task = get_task(exp.task)
    tokenizer = _tokenizer(ctx, exp)
    data, _, _, encoded = _eval_data(ctx, exp, tokenizer)
    spec = _base_spec(ctx, exp, "layers", "remove-layer", data, _checkpoint_key(exp))
    layers, n_heads = _config_shape(exp)
    targets = layer_targets(layers)
    cells = list(targets)
    if _all_stored(ctx, spec.key, cells):
        return spec.key
    run_id = _run_common(ctx, spec, cells_total=len(cells))
    started = time.perf_counter()
    todo = [c for c in _mine(ctx, cells) if c not in ctx.store.finished_cells(run_id)]
    if todo:
        model, tokenizer, _ = _model(ctx, exp)
        started = time.perf_counter()  # the run's own time: fine-tuning excluded
        base = _evaluate_heads(ctx, model, tokenizer, encoded, task, data.key, {})
    bar = tqdm(
        total=len(todo), desc=f"{exp.model} {exp.task}/{exp.lang} layers", disable=not ctx.progress
    )
    for i, target in enumerate(todo, 1):
        t0 = time.perf_counter()
        heads = {layer: list(range(n_heads)) for layer in targets[target]}
        metrics = _evaluate_heads(ctx, model, tokenizer, encoded, task, data.key, heads)
        rows = [
            {
                "target": target,
                "layers": json.dumps(targets[target]),
                "metric": name,
                "base_value": float(base[name]),
                "value": float(value),
                "drop": float(base[name] - value),
            }
            for name, value in metrics.items()
        ]
        ctx.store.write_cell(
            run_id,
            target,
            elapsed_s=time.perf_counter() - t0,
            layer_importance=rows,
            replace=ctx.force,
        )
        bar.update(1)
        if on_cell:
            on_cell(target, i, len(todo))
    bar.close()
    _finish(ctx, run_id, cells, started)
    return run_id


def _config_shape(exp: Experiment) -> tuple[int, int]:
    """(layers, heads) from the model's config alone (no weights loaded)."""
    from transformers import AutoConfig

    from mbp.models import resolve_model

    source = resolve_model(exp.model)
    return config_shape(AutoConfig.from_pretrained(source.location, local_files_only=source.local))


def grid_from_text(text: str) -> tuple[float, ...]:
    """'0,0.1,0.5' or '0:1:0.1' (start:stop:step, inclusive) -> a validated grid."""
    text = text.strip()
    if ":" in text:
        try:
            start, stop, step = (float(x) for x in text.split(":"))
        except ValueError:
            raise MbpError(f"grid {text!r} is not start:stop:step: e.g. --grid 0:1:0.1") from None
        if step <= 0:
            raise MbpError(f"grid step {step} must be positive: e.g. --grid 0:1:0.1")
        values = np.arange(start, stop + step / 2, step)
        return check_grid([round(float(v), 6) for v in values])
    return check_grid([v for v in text.split(",") if v.strip()])
