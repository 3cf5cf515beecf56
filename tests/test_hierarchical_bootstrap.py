"""The hierarchical bootstrap (training seeds, then examples within each seed): right coverage
on outcomes with a known seed variance, where the examples-only interval falls short."""

from __future__ import annotations

import numpy as np
import pytest

from mbp.analysis.bootstrap import (
    hierarchical_interval,
    hierarchical_paired_difference,
    hierarchical_resample,
    scorer,
)

ACCURACY = scorer("sst2", "accuracy")


def _fine_tunes(rng, labels: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """(seeds, n) predictions: seed s right with probability accuracies[s], else wrong."""
    right = rng.random((len(accuracies), len(labels))) < accuracies[:, None]
    return np.where(right, labels, 1 - labels)


def test_the_interval_covers_the_true_mean_over_seeds_and_examples_about_95_percent():
    """Each repetition fine-tunes 5 seeds whose true accuracies spread by sd 0.05 around 0.8
    (as much doubt as 100 examples add) and evaluates each on a fresh test set."""
    rng = np.random.default_rng(11)
    seeds, n, repeats, truth, seed_sd = 5, 100, 200, 0.8, 0.05
    both = examples_only = 0
    wider = 0
    for i in range(repeats):
        labels = rng.integers(0, 2, n)
        preds = _fine_tunes(rng, labels, truth + rng.normal(0, seed_sd, seeds))
        h = hierarchical_interval(preds, labels, ACCURACY, hierarchical_resample(seeds, n, 300, i))
        e = hierarchical_interval(
            preds, labels, ACCURACY, hierarchical_resample(seeds, n, 300, i, resample_seeds=False)
        )
        assert h.estimate == e.estimate == pytest.approx((preds == labels).mean())
        both += h.contains(truth)
        examples_only += e.contains(truth)
        wider += h.width > e.width
    assert 0.90 <= both / repeats <= 0.99
    assert examples_only / repeats < 0.90  # the seeds' spread is real doubt it leaves out
    assert wider >= 0.95 * repeats  # wider nearly always (seeds can happen to agree)


def test_without_seed_variance_the_seeds_add_little_width():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 2, 400)
    same = _fine_tunes(rng, labels, np.full(4, 0.8))
    spread = _fine_tunes(rng, labels, np.array([0.65, 0.75, 0.85, 0.95]))
    picks = hierarchical_resample(4, 400, 1000, seed=0)
    assert hierarchical_interval(same, labels, ACCURACY, picks).width < (
        hierarchical_interval(spread, labels, ACCURACY, picks).width / 2
    )


def test_the_paired_drop_pairs_seeds_and_examples():
    """Each seed's pruned model breaks 6 % of what its unpruned model gets right: the paired
    drop is recovered and much narrower than either model's own interval."""
    rng = np.random.default_rng(13)
    seeds, n = 3, 500
    labels = rng.integers(0, 2, n)
    unpruned = _fine_tunes(rng, labels, np.array([0.78, 0.84, 0.88]))
    pruned = unpruned.copy()
    for s in range(seeds):
        broken = rng.choice(np.flatnonzero(unpruned[s] == labels), size=30, replace=False)
        pruned[s, broken] = 1 - pruned[s, broken]
    picks = hierarchical_resample(seeds, n, 1000, seed=0)
    drop = hierarchical_paired_difference(unpruned, pruned, labels, ACCURACY, picks)
    assert drop.estimate == pytest.approx(0.06)
    assert drop.contains(0.06) and drop.excludes_zero
    assert drop.width < hierarchical_interval(pruned, labels, ACCURACY, picks).width / 2


def test_predictions_that_do_not_match_the_draws_are_refused():
    picks = hierarchical_resample(3, 10, 5)
    with pytest.raises(ValueError, match=r"shape \(2, 10\) do not match draws for 3 seeds"):
        hierarchical_interval(np.zeros((2, 10), int), np.zeros(10, int), ACCURACY, picks)
