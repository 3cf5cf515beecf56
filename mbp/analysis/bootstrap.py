"""Bootstrap intervals from stored per-example outcomes (mbp.store.outcomes).

Examples are resampled with replacement; a metric is recomputed on each resample; the interval
is the percentile range of those values. A *paired* interval of a difference (pruned minus
unpruned, language A minus language B on the same examples) resamples the SAME examples for
both sides, so what the two models share cancels out: it is much narrower than two separate
intervals whenever the models agree on most examples, as a pruned model and its unpruned
parent do.

    idx = resample(500, draws=2000, seed=0)
    interval(preds, labels, scorer("sst2", "accuracy"), idx)          # one model
    paired_difference(preds_a, preds_b, labels, scorer(...), idx)    # a - b, same examples

Several training seeds (one model per fine-tune seed, all on the same examples) add a second
source of doubt: which fine-tune produced the model. The *hierarchical* bootstrap resamples the
seeds, then the examples within each picked seed, so its interval carries both:

    picks = hierarchical_resample(seeds=3, n=500)                    # share them to pair
    hierarchical_interval(preds, labels, score, picks)               # preds: (seeds, n)
    hierarchical_paired_difference(unpruned, pruned, labels, score, picks)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mbp.tasks import compute_metrics

DRAWS = 2000  # resamples: the 2.5/97.5 percentiles move by < 0.1 point between seeds
LEVEL = 0.95
#: The `draw` of a point estimate (every example once) beside the resamples 0, 1, ...
POINT = -1

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (draws, n) preds, labels -> (draws,)


@dataclass(frozen=True)
class Interval:
    """A point estimate (on all examples) and its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    @property
    def width(self) -> float:
        return self.high - self.low

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly on one side of 0 (a difference beyond noise)."""
        return self.low > 0 or self.high < 0


def resample(n: int, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """(draws, n) example indices drawn with replacement; share them to pair intervals."""
    return np.random.default_rng(seed).integers(0, n, size=(draws, n))


def reference_scorer(task: str, metric: str) -> Scorer:
    """The task's own metric code, row by row over (draws, n) predictions and labels: the
    definition `scorer` agrees with."""

    def rows(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.array([compute_metrics(task, p, g)[metric] for p, g in zip(preds, labels,
                                                                             strict=True)])  # fmt: skip

    return rows


def scorer(task: str, metric: str) -> Scorer:
    """The task's `metric` on each row of (draws, n) predictions and labels. Accuracy, binary
    F1 and binary Matthews are vectorised over the draws (a thousand resamples in milliseconds
    instead of a second), with the task's conventions (positive class 1, 0 where undefined);
    anything else is `reference_scorer`."""
    if metric == "accuracy":
        return lambda preds, labels: (preds == labels).mean(axis=1)
    rows = reference_scorer(task, metric)
    if metric not in ("f1", "matthews"):
        return rows

    def vectorised(preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if max(preds.max(initial=0), labels.max(initial=0)) > 1:  # not binary: the task's code
            return rows(preds, labels)
        p, g = preds == 1, labels == 1
        tp, fp = (p & g).sum(axis=1).astype(float), (p & ~g).sum(axis=1).astype(float)
        fn, tn = (~p & g).sum(axis=1).astype(float), (~p & ~g).sum(axis=1).astype(float)
        if metric == "f1":
            denom = 2 * tp + fp + fn
            return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return np.divide(tp * tn - fp * fn, denom, out=np.zeros_like(tp), where=denom > 0)

    return vectorised


def _on_all(score: Scorer, preds: np.ndarray, labels: np.ndarray) -> float:
    """The metric on every example (the point estimate)."""
    return float(score(preds[None, :], labels[None, :])[0])


def percentile_interval(samples: np.ndarray, estimate: float, level: float = LEVEL) -> Interval:
    """The interval of any statistic recomputed on each resample (`samples`, one per draw)
    around its value on all examples (`estimate`): a metric, a difference, a claim's statistic."""
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), level)


def interval(
    preds: np.ndarray, labels: np.ndarray, score: Scorer, idx: np.ndarray, level: float = LEVEL
) -> Interval:
    """The metric of one model with its bootstrap interval over the examples `idx` draws."""
    return percentile_interval(score(preds[idx], labels[idx]), _on_all(score, preds, labels), level)


def paired_difference(
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    labels: np.ndarray,
    score: Scorer,
    idx: np.ndarray,
    level: float = LEVEL,
) -> Interval:
    """metric(a) - metric(b), both scored on the same resampled examples."""
    estimate = _on_all(score, preds_a, labels) - _on_all(score, preds_b, labels)
    samples = score(preds_a[idx], labels[idx]) - score(preds_b[idx], labels[idx])
    return percentile_interval(samples, estimate, level)


def unpaired_difference(
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    labels: np.ndarray,
    score: Scorer,
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    level: float = LEVEL,
) -> Interval:
    """metric(a) - metric(b) with independent resamples for each side: what comparing two
    separate intervals amounts to (for examples that differ, e.g. two languages' test sets)."""
    estimate = _on_all(score, preds_a, labels) - _on_all(score, preds_b, labels)
    samples = score(preds_a[idx_a], labels[idx_a]) - score(preds_b[idx_b], labels[idx_b])
    return percentile_interval(samples, estimate, level)


# ----------------------------------------------------------------------------- training seeds


@dataclass(frozen=True)
class SeedPicks:
    """Shared draws of a two-stage bootstrap: which training seeds each draw takes (with
    replacement), and which examples it takes within each of them."""

    seeds: np.ndarray  # (draws, n_seeds) indices into the seed axis
    examples: np.ndarray  # (draws, n_seeds, n) example indices, drawn anew within each pick
    _last: dict = field(default_factory=dict, compare=False, repr=False)  # picked_labels' cache

    @cached_property
    def flat(self) -> np.ndarray:
        """(draws * n_seeds, n) indices into a raveled (n_seeds, n) array: one gather per model
        (about 2.5x faster than indexing seeds and examples), computed once per picks."""
        draws, k, n = self.examples.shape
        return (self.seeds[:, :, None] * n + self.examples).reshape(draws * k, n)

    def picked_labels(self, labels: np.ndarray) -> np.ndarray:
        """(draws * n_seeds, n): `labels` (n,), the same for every seed, at each pick's examples.
        The last labels' are kept: the models of one run share them, and so skip the gather."""
        key = (labels.dtype.str, labels.tobytes())
        if self._last.get("key") != key:
            draws, k, n = self.examples.shape
            self._last.update(key=key, value=labels[self.examples.reshape(draws * k, n)])
        return self._last["value"]


def hierarchical_resample(
    seeds: int, n: int, draws: int = DRAWS, seed: int = 0, *, resample_seeds: bool = True
) -> SeedPicks:
    """Draws for `seeds` training seeds of `n` examples each. `resample_seeds=False` keeps every
    seed once per draw (the examples-only interval of the same seed-mean, to compare with)."""
    rng = np.random.default_rng(seed)
    if resample_seeds:
        picked = rng.integers(0, seeds, size=(draws, seeds))
    else:
        picked = np.broadcast_to(np.arange(seeds), (draws, seeds)).copy()
    return SeedPicks(picked, rng.integers(0, n, size=(draws, seeds, n)))


def hierarchical_samples(
    preds: np.ndarray, labels: np.ndarray, score: Scorer, picks: SeedPicks
) -> np.ndarray:
    """(draws,) the metric averaged over each draw's picked seeds, each on its own examples:
    share `picks` between models (pruned and unpruned, fraction by fraction) to pair them."""
    _check_seeds(preds, picks)
    preds, labels = np.asarray(preds), np.asarray(labels)
    draws, k = picks.seeds.shape
    p = preds.ravel()[picks.flat]
    if labels.ndim == 1:  # the same examples per seed: no seed row to pick
        g = picks.picked_labels(labels)
    else:
        g = np.broadcast_to(labels, preds.shape).ravel()[picks.flat]
    return score(p, g).reshape(draws, k).mean(axis=1)


def seed_mean(preds: np.ndarray, labels: np.ndarray, score: Scorer) -> float:
    """The point estimate: the metric on every example, averaged over the seeds."""
    preds = np.asarray(preds)
    return float(score(preds, np.broadcast_to(np.asarray(labels), preds.shape)).mean())


def _check_seeds(preds: np.ndarray, picks: SeedPicks) -> None:
    if (
        np.ndim(preds) != 2
        or preds.shape[0] != picks.examples.shape[1]
        or (preds.shape[1] != picks.examples.shape[2])
    ):
        raise ValueError(
            f"predictions of shape {np.shape(preds)} do not match draws for "
            f"{picks.examples.shape[1]} seeds x {picks.examples.shape[2]} examples: pass one row "
            "per training seed and draw hierarchical_resample(seeds, n) for that shape"
        )


def hierarchical_interval(
    preds: np.ndarray, labels: np.ndarray, score: Scorer, picks: SeedPicks, level: float = LEVEL
) -> Interval:
    """The seed-mean metric of models fine-tuned with several seeds (`preds`: (seeds, n), the
    same examples in each row; `labels`: (n,) or (seeds, n)), with an interval over both the
    seeds and the examples."""
    _check_seeds(preds, picks)
    samples = hierarchical_samples(preds, labels, score, picks)
    return percentile_interval(samples, seed_mean(preds, labels, score), level)


def hierarchical_paired_difference(
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    labels: np.ndarray,
    score: Scorer,
    picks: SeedPicks,
    level: float = LEVEL,
) -> Interval:
    """seed-mean metric(a) - metric(b), where row s of `preds_a` and of `preds_b` come from the
    same fine-tune seed (e.g. its unpruned and pruned model): each draw picks the same seeds and,
    within a seed, the same examples for both sides (paired), so only the pruning's effect and
    its spread over seeds and examples remain."""
    _check_seeds(preds_a, picks)
    _check_seeds(preds_b, picks)
    estimate = seed_mean(preds_a, labels, score) - seed_mean(preds_b, labels, score)
    samples = hierarchical_samples(preds_a, labels, score, picks) - hierarchical_samples(
        preds_b, labels, score, picks
    )
    return percentile_interval(samples, estimate, level)
