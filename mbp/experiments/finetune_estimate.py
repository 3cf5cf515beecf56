"""How long a fine-tune should take on this machine, and where that number comes from.

Every finished fine-tune records its training-loop seconds and examples in its checkpoint
(`mbp.engine.finetune.finished_finetunes`). Where this machine's cache holds fine-tunes of the
same model in the same speed setting (device type, precision, threads, batching, optimiser,
frozen embeddings, pruned or not), their median seconds per example-epoch is the estimate,
"measured". Otherwise it is a "prior": other models' measured rates scaled by layers x hidden^2
and max length, or, with none measured here, a fixed per-example cost.

    est = estimate_finetune(spec, n_train=9_999, device_type="cpu", threads=1)
    est.seconds, est.source  # 4512.0, "measured: 2 earlier fine-tunes on this machine"

The rate is TRAINING-loop seconds per example-epoch from the checkpoint cache (no loading, no
evaluation; `mbp.engine.training_rate` says the live one mid-run). `bench/plan_cost.py` is the
other rate: whole plan steps projected from the results' CELL seconds (fine-tunes plus
evaluations).
"""

from __future__ import annotations

import contextlib
import json
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

from mbp.spec import FinetuneSpec

# The fallback when nothing was measured here: seconds per training example (forward, backward,
# step) of e5-small (12 x 384^2) at length 128, scaled by layers x hidden^2 and length.
_PRIOR_S_PER_EXAMPLE_E5 = 0.04
_E5_SIZE = 12 * 384**2
_UNKNOWN_SIZE = 12 * 768**2  # a model whose shape is not known: BERT-base's
_PRIOR_GPU_SPEEDUP = 30.0

SpeedSetting = tuple[str, str, str, str, bool, bool]


@dataclass(frozen=True)
class MeasuredRate:
    """One finished fine-tune's training speed."""

    model: str
    task: str
    max_length: int
    setting: SpeedSetting  # `speed_setting`
    threads: int | None  # None: recorded before threads were
    s_per_example: float  # training-loop seconds per example-epoch


@dataclass(frozen=True)
class FinetuneEstimate:
    seconds: float
    source: str  # "measured: ..." or "prior, ..." (what the announcement says)


def speed_setting(spec: FinetuneSpec, device_type: str) -> SpeedSetting:
    """What besides the model and length sets a fine-tune's seconds per example."""
    return (device_type, spec.precision, spec.batching, spec.optimizer,
            spec.freeze_embeddings, bool(spec.pruned_heads))  # fmt: skip


def rate_of(info: dict) -> MeasuredRate | None:
    """The rate a checkpoint's recorded info shows (None: no training seconds recorded)."""
    names = {f.name for f in fields(FinetuneSpec)}
    try:
        spec = FinetuneSpec(**{k: v for k, v in info["spec"].items() if k in names})
        work = int(info["n_train"]) * float(spec.epochs)
        seconds = float(info["train_seconds"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if work <= 0 or seconds <= 0:
        return None
    device_type = str(info.get("device", "cpu")).split(":")[0]
    threads = info.get("threads")
    return MeasuredRate(spec.model, spec.task, spec.max_length, speed_setting(spec, device_type),
                        None if threads is None else int(threads), seconds / work)  # fmt: skip


def measured_rates() -> list[MeasuredRate]:
    """The rates of the finished fine-tunes in this machine's checkpoint cache."""
    from mbp.engine.finetune import finished_finetunes

    return [r for r in map(rate_of, finished_finetunes()) if r is not None]


def model_size(model: str) -> int:
    """layers x hidden^2 of `model`: its registry entry, or a local directory's config.json."""
    from mbp.engine.cost import Architecture
    from mbp.models.registry import find_model

    info = find_model(model)
    if info is not None:
        return info.layers * info.hidden**2
    with contextlib.suppress(OSError, ValueError):
        arch = Architecture.of(json.loads((Path(model) / "config.json").read_text()))
        return arch.layers * arch.hidden**2
    return _UNKNOWN_SIZE


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def estimate_finetune(
    spec: FinetuneSpec,
    n_train: int,
    device_type: str,
    threads: int | None,  # None: any (a GPU's)
    rates: list[MeasuredRate] | None = None,
) -> FinetuneEstimate:
    """Seconds to train `n_train` x `spec.epochs` examples (training loop only), from `rates`
    (default: this machine's, `measured_rates`), and where the number comes from."""
    rates = measured_rates() if rates is None else rates
    setting = speed_setting(spec, device_type)
    alike = [
        r
        for r in rates
        if r.setting == setting and (threads is None or r.threads in (None, threads))
    ]
    work = n_train * spec.epochs
    mine = [r for r in alike if r.model == spec.model]
    if mine:
        same = [r for r in mine if (r.task, r.max_length) == (spec.task, spec.max_length)]
        used = same or mine
        note = "" if same else " (other tasks or lengths)"
        return FinetuneEstimate(
            work * statistics.median(r.s_per_example for r in used),
            f"measured: {_plural(len(used), 'earlier fine-tune')} on this machine{note}",
        )
    size = model_size(spec.model)
    if alike:  # no rate for this model: other models' rates, scaled to its size and length
        scaled = [
            r.s_per_example * size / model_size(r.model) * spec.max_length / r.max_length
            for r in alike
        ]
        return FinetuneEstimate(
            work * statistics.median(scaled),
            f"prior, not measured here for this model: scaled from "
            f"{_plural(len(alike), 'fine-tune')} of other models on this machine",
        )
    per_example = _PRIOR_S_PER_EXAMPLE_E5 * size / _E5_SIZE * spec.max_length / 128
    if device_type == "cuda":
        per_example /= _PRIOR_GPU_SPEEDUP
    return FinetuneEstimate(work * per_example, "prior, not measured here")
