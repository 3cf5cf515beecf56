"""Which fine-tuned model a run evaluates: trained from a recipe, or a stored checkpoint by id.

Before a fine-tune of more than a few minutes the runner says what it will train, how long that
should take (and whether that is measured on this machine or a prior: `finetune_estimate`) and
which stored checkpoints for the same model and task exist (`--checkpoint ID`
uses one); a fine-tune that ends within a few points of the majority-class score says so at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mbp.errors import MbpError
from mbp.experiments.context import RunContext
from mbp.experiments.params import Experiment
from mbp.spec import FinetuneSpec

if TYPE_CHECKING:
    from mbp.experiments.finetune_estimate import FinetuneEstimate

ANNOUNCE_AFTER_S = 180.0  # fine-tunes expected to take longer than this are announced
WEAK_MARGIN = 0.05  # a dev score within 5 points of always answering the majority class


def run_precision(ctx: RunContext) -> str:
    """What the run computes in on its device (fp32 | bf16 | fp16); refuses an unsupported one."""
    from mbp.engine.device import resolved_precision

    return resolved_precision(ctx.torch_device, ctx.precision)


def finetune_spec(exp: Experiment, precision: str = "fp32") -> FinetuneSpec | None:
    """What fine-tuning `exp` in `precision` (resolved: fp32 | bf16 | fp16) needs (None: the
    model is used as it is). Trains nothing."""
    from mbp.models import model_checksum
    from mbp.tasks import get_task

    opts = exp.finetune
    if not opts.enabled:
        return None
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
        precision=precision,
    )


def checkpoint_key(ctx: RunContext, exp: Experiment) -> str:
    """The key runs name their model by: the stored checkpoint's id, the recipe's key, or ""."""
    if exp.finetune.checkpoint:
        return stored_checkpoint(ctx, exp)["ckpt_id"]
    spec = finetune_spec(exp, run_precision(ctx))
    return spec.key if spec else ""


def stored_checkpoint(ctx: RunContext, exp: Experiment) -> dict:
    """The store's row for `--checkpoint ID`, checked against the run's model and task."""
    from mbp.tasks import get_task

    ckpt_id = exp.finetune.checkpoint
    frame = ctx.store.checkpoints()
    rows = frame[frame["ckpt_id"] == ckpt_id] if len(frame) else frame
    if not len(rows):
        raise MbpError(
            f"--checkpoint {ckpt_id!r} is not in the store {ctx.store.path}: "
            "`mbp runs --checkpoints` lists the stored ones"
        )
    row = rows.iloc[0].to_dict()
    train_task = get_task(exp.task).train_task
    if row["model"] != exp.model or row["task"] != train_task:
        raise MbpError(
            f"--checkpoint {ckpt_id} is {row['model']} fine-tuned on {row['task']}, but this run "
            f"is {exp.model} on {exp.task} (trained on {train_task}): pick a matching checkpoint"
        )
    if not (Path(row["path"]) / "config.json").is_file():
        raise MbpError(
            f"--checkpoint {ckpt_id}'s files at {row['path']} are gone (another machine, or a "
            "cleared cache): fine-tune again with its recipe, or drop --checkpoint"
        )
    return row


def checkpoint(ctx: RunContext, exp: Experiment):
    """The fine-tuned `Checkpoint` for `exp` (training it if needed), or None."""
    from mbp.engine.finetune import Checkpoint, find_checkpoint, finetune

    if exp.finetune.checkpoint:
        row = stored_checkpoint(ctx, exp)
        return Checkpoint(
            key=row["ckpt_id"],
            path=Path(row["path"]),
            metric=row["metric"],
            dev_value=float(row["dev_value"]),
            dev_split="",
            n_train=int(row["n_train"] or 0),
            seconds=0.0,
            weights_sha256=row.get("weights_sha256"),
        )
    spec = finetune_spec(exp, run_precision(ctx))
    if spec is None:
        return None
    if find_checkpoint(spec) is None:
        announce_finetune(ctx, spec)
        remote = getattr(ctx.executor, "finetune", None)
        if remote is not None:  # a cluster executor trains on a worker and installs it here
            remote(spec, data_dir=ctx.data_dir, device=ctx.device)
    ckpt = finetune(
        spec,
        data_dir=ctx.data_dir,
        device=ctx.device,
        progress=ctx.progress,
    )
    check_same_checkpoint(ctx, exp, ckpt)
    ctx.store.record_checkpoint(
        ckpt.key,
        model=exp.model,
        task=spec.task,
        spec_json=spec.to_json(),
        path=str(ckpt.path),
        metric=ckpt.metric,
        dev_value=ckpt.dev_value,
        n_train=ckpt.n_train,
        weights_sha256=ckpt.weights_sha256 or _stored_sha(ctx, ckpt.key),
    )
    warn_if_weak(ctx, spec.task, ckpt)
    return ckpt


def check_same_checkpoint(ctx: RunContext, exp: Experiment, ckpt) -> None:
    """Stored runs name their checkpoint by its recipe's key; a checkpoint retrained elsewhere
    (an imported store, another machine) must be the same model, or new cells would mix two
    models under one run: the same weights (sha256) where both are known, else the same dev
    score."""
    stored = ctx.store.checkpoints()
    stored = stored[stored["ckpt_id"] == ckpt.key] if len(stored) else stored
    if not len(stored):
        return
    row = stored.iloc[0]
    stored_sha = row.get("weights_sha256")
    if isinstance(stored_sha, str) and ckpt.weights_sha256:
        if stored_sha != ckpt.weights_sha256:
            raise MbpError(
                f"fine-tuned checkpoint {ckpt.key} ({exp.model}) has weights "
                f"{ckpt.weights_sha256[:12]} here but {stored_sha[:12]} in the store, so this "
                "machine's fine-tune did not reproduce it: continue where it was trained, or use "
                "a new store (--store NEW, and --fresh for precompute)"
            )
        return
    if abs(float(row["dev_value"]) - ckpt.dev_value) > 1e-9:
        raise MbpError(
            f"fine-tuned checkpoint {ckpt.key} ({exp.model}) scores {ckpt.dev_value:.6f} here but "
            f"{float(row['dev_value']):.6f} in the store, so this machine's fine-tune "
            "did not reproduce it: continue where it was trained, or use a new store "
            "(--store NEW, and --fresh for precompute)"
        )


def _stored_sha(ctx: RunContext, key: str) -> str | None:
    """The weights hash the store already knows for `key` (kept when an older checkpoint
    directory has none)."""
    frame = ctx.store.checkpoints()
    rows = frame[frame["ckpt_id"] == key] if len(frame) else frame
    value = rows["weights_sha256"].iloc[0] if len(rows) else None
    return value if isinstance(value, str) else None


def training_examples(spec: FinetuneSpec, data_dir: str | None) -> int:
    """How many examples the fine-tune will train on (the slice, or the whole split)."""
    from mbp.tasks import get_task, load_examples

    task = get_task(spec.task)
    try:
        available = len(load_examples(task.name, task.train_split, data_dir=data_dir).labels)
    except MbpError:
        return spec.train_examples
    return min(spec.train_examples, available) if spec.train_examples else available


def estimate_finetune(ctx: RunContext, spec: FinetuneSpec, n_train: int) -> FinetuneEstimate:
    """The `FinetuneEstimate` of training `n_train` x epochs examples on the run's device, with
    the threads `mbp.engine.finetune` trains on there."""
    from mbp.engine.finetune import FINETUNE_THREADS
    from mbp.experiments.finetune_estimate import estimate_finetune as estimate

    device = ctx.torch_device.type
    return estimate(spec, n_train, device, FINETUNE_THREADS if device == "cpu" else None)


def announce_finetune(ctx: RunContext, spec: FinetuneSpec) -> None:
    """Say what a long fine-tune will train, its estimate, and the stored alternatives."""
    from mbp.durations import format_duration

    n_train = training_examples(spec, ctx.data_dir)
    estimate = estimate_finetune(ctx, spec, n_train)
    if estimate.seconds < ANNOUNCE_AFTER_S:
        return
    frame = ctx.store.checkpoints()
    mine = (
        frame[(frame["model"] == spec.model) & (frame["task"] == spec.task)] if len(frame) else []
    )
    stored = [
        f"{r.ckpt_id} ({int(r.n_train or 0):,} examples, {r.metric} {float(r.dev_value):.3f})"
        for r in getattr(mine, "itertuples", lambda: [])()
    ]
    hint = (
        f"; stored checkpoints for {spec.model}/{spec.task}: {', '.join(stored)} "
        "(--checkpoint ID uses one)"
        if stored
        else "; no stored checkpoint for this model and task"
    )
    print(
        f"fine-tuning {spec.model} on {spec.task}: {n_train:,} examples x {spec.epochs:g} "
        f"epoch(s), lr {spec.lr:g}, batch {spec.batch_size} (~{format_duration(estimate.seconds)} "
        f"of training estimated on {ctx.torch_device.type}; {estimate.source}){hint}; smaller: "
        "--train-examples N --epochs E",
        file=sys.stderr,
        flush=True,
    )


def is_weak(ctx: RunContext, task: str, ckpt) -> bool:
    """True when the fine-tuned dev score is within WEAK_MARGIN of the majority-class score on
    the same examples."""
    from mbp.tasks import get_task
    from mbp.tasks.scoring import majority_baseline

    if ckpt.metric != get_task(task).primary_metric:
        return False
    base = majority_baseline(task, ctx.data_dir)
    return base is not None and ckpt.dev_value - base < WEAK_MARGIN


def warn_if_weak(ctx: RunContext, task: str, ckpt) -> bool:
    """Warn when the fine-tuned dev score is within WEAK_MARGIN of the majority-class score on
    the same examples: every number measured on it would rest on a model that learnt little."""
    from mbp.tasks.scoring import majority_baseline

    if not is_weak(ctx, task, ckpt):
        return False
    base = majority_baseline(task, ctx.data_dir)
    print(
        f"warning: the fine-tuned {task} model scores {ckpt.metric} {ckpt.dev_value:.3f}, within "
        f"{WEAK_MARGIN * 100:.0f} points of always answering the majority class ({base:.3f}): "
        "train longer or on more examples (--train-examples, --epochs, --lr) before trusting "
        "pruning results on it",
        file=sys.stderr,
        flush=True,
    )
    return True
