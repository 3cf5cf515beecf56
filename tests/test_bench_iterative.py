"""bench/iterative.py (figure 13): the anchor loop and mbp's runner path agree (tiny model)."""

from __future__ import annotations

import numpy as np

from bench.common import eager_twin
from bench.iterative import anchor_iterative, mbp_iterative
from mbp.models import tiny_bert
from mbp.tasks.encode import Encoded


def _encoded(n: int, seed: int) -> Encoded:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(5, 100, size=int(rng.integers(4, 30))).astype(np.int64) for _ in range(n)]
    return Encoded(input_ids=ids, token_type_ids=None, labels=rng.integers(0, 2, n),
                   ids=np.arange(n))  # fmt: skip


def test_anchor_loop_and_runner_path_remove_the_same_heads():
    model, _ = tiny_bert(layers=3, heads=4, hidden=16)
    scoring, evaluation = _encoded(40, 1), _encoded(37, 2)
    grid = (0.0, 0.25, 0.5, 0.75)
    anchor = anchor_iterative(eager_twin(model), scoring, evaluation, 0, grid)
    mbp = mbp_iterative(model, scoring, evaluation, 0, grid, batch_size=16)
    assert [heads for heads, _ in mbp] == [heads for heads, _ in anchor]
    assert [sum(map(len, h.values())) for h, _ in mbp] == [0, 3, 6, 9]
    for (_, a), (_, b) in zip(anchor, mbp, strict=True):
        assert abs(a - b) <= 1 / 37 + 1e-9  # at most one near-tie flipped
    assert all(p.grad is None for p in model.parameters())  # the anchor left no gradients
