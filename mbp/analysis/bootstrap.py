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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mbp.tasks import compute_metrics

DRAWS = 2000  # resamples: the 2.5/97.5 percentiles move by < 0.1 point between seeds
LEVEL = 0.95

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
