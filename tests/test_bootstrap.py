"""Bootstrap intervals: right coverage on outcomes with a known truth, and pairing pays off."""

from __future__ import annotations

import numpy as np
import pytest

from mbp.analysis.bootstrap import (
    interval,
    paired_difference,
    resample,
    scorer,
    unpaired_difference,
)

ACCURACY = scorer("sst2", "accuracy")


def _model(rng, labels: np.ndarray, accuracy: float) -> np.ndarray:
    """Predictions right with probability `accuracy`, else the other class."""
    right = rng.random(len(labels)) < accuracy
    return np.where(right, labels, 1 - labels)


def test_the_95_percent_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    n, repeats, truth = 300, 300, 0.8
    hits = 0
    for i in range(repeats):  # a fresh test set each time from a model with accuracy 0.8
        labels = rng.integers(0, 2, n)
        preds = _model(rng, labels, truth)
        hits += interval(preds, labels, ACCURACY, resample(n, 1000, seed=i)).contains(truth)
    assert 0.91 <= hits / repeats <= 0.98


def test_a_known_drop_is_recovered_and_paired_intervals_are_much_narrower():
    rng = np.random.default_rng(2)
    n = 500
    labels = rng.integers(0, 2, n)
    unpruned = _model(rng, labels, 0.85)
    pruned = unpruned.copy()  # the pruned model breaks 8 % of the examples, fixes none
    broken = rng.choice(np.flatnonzero(unpruned == labels), size=int(0.08 * n), replace=False)
    pruned[broken] = 1 - pruned[broken]
    idx = resample(n, seed=0)
    paired = paired_difference(unpruned, pruned, labels, ACCURACY, idx)
    unpaired = unpaired_difference(unpruned, pruned, labels, ACCURACY, idx, resample(n, seed=1))
    assert paired.estimate == pytest.approx(0.08) == unpaired.estimate
    assert paired.contains(0.08) and paired.excludes_zero
    assert paired.width < unpaired.width / 2
    # the same drop on independent samples is not told apart from noise as easily
    assert unpaired.low < paired.low


def test_other_metrics_go_through_the_tasks_own_code():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    preds = _model(rng, labels, 0.9)
    f1 = interval(preds, labels, scorer("mrpc", "f1"), resample(200, 200, seed=0))
    from sklearn.metrics import f1_score

    assert f1.estimate == pytest.approx(f1_score(labels, preds))
    assert f1.low < f1.estimate < f1.high
