"""Prefix reuse gives the same logits as evaluating the pruned model from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from mbp.engine.evaluate import predict
from mbp.engine.prefix import PrefixCache
from mbp.engine.prune import prune_heads
from mbp.models import tiny_bert
from mbp.tasks.encode import Encoded


def _encoded(n: int = 29) -> Encoded:
    rng = np.random.default_rng(1)
    ids = [rng.integers(5, 100, size=int(rng.integers(3, 20))).astype(np.int64) for _ in range(n)]
    return Encoded(
        input_ids=ids, token_type_ids=None, labels=rng.integers(0, 2, n), ids=np.arange(n)
    )


@pytest.mark.parametrize(
    "heads", [{}, {2: [0, 1, 2, 3]}, {1: [3], 3: [0]}, {0: [1]}, {3: [0, 1, 2, 3]}]
)
def test_prefix_reuse_equals_a_full_evaluation(heads):
    model, _ = tiny_bert(layers=4, heads=4, hidden=16)
    encoded = _encoded()
    cache = PrefixCache.build(model, encoded, pad_id=0, batch_size=8)
    pruned = prune_heads(model, heads) if heads else model
    expected = predict(pruned, encoded, pad_id=0, batch_size=8)
    first = min(heads) if heads else 4
    assert np.allclose(cache.logits(pruned, first), expected, atol=1e-6)


def test_prefix_cache_declines_other_layouts_and_huge_sets():
    distil, _ = tiny_bert(arch="distilbert")
    assert PrefixCache.build(distil, _encoded(), pad_id=0) is None
    model, _ = tiny_bert()
    assert PrefixCache.build(model, _encoded(), pad_id=0, max_bytes=10) is None
