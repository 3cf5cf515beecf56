"""The grouped training order: Hugging Face's length-grouped megabatches, batch order shuffled.

Synthetic lengths only (no model): every example once per epoch, each batch drawn from one
megabatch and sorted within it, the order set by the seed, and padding saved vs random batches.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mbp.engine.batching import grouped_order


def _padded(lengths: np.ndarray, batches: list[np.ndarray]) -> int:
    """Tokens the model computes on: each batch padded to its own longest."""
    return sum(int(lengths[b].max()) * len(b) for b in batches)


def _megabatches(n: int, size: int, seed: int) -> list[set[int]]:
    """The example sets of the megabatches `grouped_order` draws from `default_rng(seed)`:
    Hugging Face permutes with torch, seeded from the numpy generator's first draw."""
    gen = torch.Generator().manual_seed(int(np.random.default_rng(seed).integers(2**63 - 1)))
    perm = torch.randperm(n, generator=gen).numpy()
    return [set(perm[i : i + size].tolist()) for i in range(0, n, size)]


def test_every_example_once_and_as_many_steps_as_random_batches():
    lengths = np.random.default_rng(0).integers(3, 60, size=203)
    for mult in (None, 1, 3, 100):
        batches = grouped_order(lengths, 8, np.random.default_rng(1), mult)
        seen = np.concatenate(batches)
        assert sorted(seen.tolist()) == list(range(203)), mult
        assert len(batches) == int(np.ceil(203 / 8))
        assert sorted(len(b) for b in batches)[1:] == [8] * 25  # one short batch (203 = 25*8+3)


def test_each_batch_comes_from_one_megabatch_sorted_by_length():
    lengths = np.random.default_rng(0).integers(3, 60, size=203)
    lengths[::8] = 60  # the first megabatch holds a longest example: Hugging Face's swap of
    # the longest example into the first batch is then a no-op, and the sort is exact
    mult, seed = 5, 4
    megabatches = _megabatches(203, 5 * 8, seed)
    assert lengths[list(megabatches[0])].max() == 60
    batches = grouped_order(lengths, 8, np.random.default_rng(seed), mult)
    home = [[j for j, m in enumerate(megabatches) if set(b.tolist()) <= m] for b in batches]
    assert all(len(h) == 1 for h in home)  # no batch straddles two megabatches
    for j in range(len(megabatches)):
        mine = sorted((b for b, h in zip(batches, home, strict=True) if h == [j]),
                      key=lambda b: -lengths[b].max())  # fmt: skip
        for longer, shorter in itertools.pairwise(mine):
            assert lengths[longer].min() >= lengths[shorter].max()  # sorted within it
    # the batch order is shuffled too: not the megabatches one after the other
    assert [h[0] for h in home] != sorted(h[0] for h in home)


def test_the_order_is_set_by_the_seed():
    lengths = np.random.default_rng(0).integers(3, 60, size=500)
    a = grouped_order(lengths, 16, np.random.default_rng(7))
    b = grouped_order(lengths, 16, np.random.default_rng(7))
    c = grouped_order(lengths, 16, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert {frozenset(x.tolist()) for x in a} != {frozenset(x.tolist()) for x in c}


def test_padding_saved_grows_with_the_megabatch_yet_a_small_set_keeps_four():
    """The Trainer's rule (None) for 384 examples in batches of 16: 6 batches a megabatch
    (4 megabatches), between random batches and one global sort (measured on SST-2 in
    docs/BENCHMARKS.md 11: 36.4 / 18.0 / 14.8 padded tokens per example)."""
    lengths = np.random.default_rng(0).integers(3, 60, size=384)
    order = np.random.default_rng(1).permutation(384)
    random = _padded(lengths, [order[i : i + 16] for i in range(0, 384, 16)])

    def padded(mult):
        return _padded(lengths, grouped_order(lengths, 16, np.random.default_rng(1), mult))

    assert padded(1) == pytest.approx(random, rel=0.1)  # a megabatch of one batch: random
    assert padded(None) == padded(6)  # the rule: min(384 // (4 * 16), 50) = 6
    assert padded(24) < padded(None) < padded(2) < 0.8 * random


def test_bad_sizes_are_refused_with_the_fix():
    lengths = np.arange(3, 40)
    with pytest.raises(ValueError, match=r"batch_size 0 .* must be >= 1"):
        grouped_order(lengths, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="megabatch_mult 0 must be >= 1"):
        grouped_order(lengths, 8, np.random.default_rng(0), 0)
