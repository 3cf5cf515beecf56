"""Importance scores and prune orders on a tiny random BERT."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mbp.engine.gate import head_gate
from mbp.engine.importance import head_importance, per_example_gate_gradients
from mbp.engine.orders import check_grid, heads_at_fraction, layer_targets, prune_order
from mbp.errors import MbpError
from mbp.models import tiny_bert
from mbp.tasks.encode import Encoded


def _encoded(n: int = 13, vocab: int = 100, seed: int = 0, regression: bool = False) -> Encoded:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(5, vocab, size=int(rng.integers(3, 12))).astype(np.int64) for _ in range(n)]
    labels = rng.random(n).astype(np.float32) if regression else rng.integers(0, 2, n)
    return Encoded(input_ids=ids, token_type_ids=None, labels=labels, ids=np.arange(n))


def _loop_gradients(model, encoded, regression=False) -> torch.Tensor:
    """The reference: one example at a time, its own loss, its own gate."""
    out = []
    for i, ids in enumerate(encoded.input_ids):
        gate = torch.ones(2, 4, requires_grad=True)
        with head_gate(model, gate):
            logits = model(input_ids=torch.from_numpy(ids)[None]).logits
        label = torch.tensor([encoded.labels[i]])
        loss = (
            F.mse_loss(logits[:, 0], label.float())
            if regression
            else F.cross_entropy(logits, label.long())
        )
        (grad,) = torch.autograd.grad(loss, gate)
        out.append(grad)
    return torch.stack(out)


@pytest.mark.parametrize("regression", [False, True])
def test_batched_per_example_gradients_equal_a_batch_size_1_loop(regression):
    model, _ = tiny_bert(num_labels=1 if regression else 2, layers=2, heads=4)
    encoded = _encoded(regression=regression)
    batched = per_example_gate_gradients(
        model, encoded, regression=regression, pad_id=0, batch_size=5
    )
    loop = _loop_gradients(model, encoded, regression)
    assert torch.allclose(batched, loop, rtol=1e-5, atol=1e-7)


def test_gradient_and_fisher_follow_their_definitions():
    model, _ = tiny_bert(layers=2, heads=4)
    encoded = _encoded()
    loop = _loop_gradients(model, encoded)
    grad = head_importance(model, encoded, regression=False, pad_id=0, estimator="gradient")
    fisher = head_importance(model, encoded, regression=False, pad_id=0, estimator="fisher")
    assert torch.allclose(grad.scores, loop.abs().mean(0), rtol=1e-5)
    assert torch.allclose(fisher.scores, loop.pow(2).sum(0), rtol=1e-5)
    assert grad.n_examples == len(encoded) and grad.normalization == "none"


def test_layer_normalisation_gives_unit_norm_rows_and_random_is_seeded():
    model, _ = tiny_bert(layers=2, heads=4)
    encoded = _encoded()
    norm = head_importance(model, encoded, regression=False, pad_id=0, normalize=True)
    assert torch.allclose(norm.scores.norm(dim=-1), torch.ones(2), atol=1e-6)
    a = head_importance(model, encoded, regression=False, pad_id=0, estimator="random", seed=3)
    b = head_importance(model, encoded, regression=False, pad_id=0, estimator="random", seed=3)
    c = head_importance(model, encoded, regression=False, pad_id=0, estimator="random", seed=4)
    assert torch.equal(a.scores, b.scores) and not torch.equal(a.scores, c.scores)


def test_orders_rank_by_score():
    scores = torch.tensor([[0.5, 0.1], [0.9, 0.3]])
    assert prune_order(scores, "importance") == [(0, 1), (1, 1), (0, 0), (1, 0)]
    assert prune_order(scores, "reverse") == [(1, 0), (0, 0), (1, 1), (0, 1)]
    r1 = prune_order(None, "random", seed=1, shape=(2, 2))
    assert sorted(r1) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert r1 == prune_order(None, "random", seed=1, shape=(2, 2))
    assert {
        tuple(prune_order(None, "random", seed=s, shape=(3, 4))) for s in range(5)
    }.__len__() > 1


def test_fractions_are_nested_and_respect_the_floor():
    ranking = prune_order(torch.arange(12.0).reshape(3, 4), "importance")
    sets = [heads_at_fraction(ranking, f, layers=3, heads=4) for f in check_grid([0, 0.25, 0.5, 1])]
    counts = [sum(len(h) for h in s.values()) for s in sets]
    assert counts == [0, 3, 6, 12]
    for small, big in itertools.pairwise(sets):
        assert all(set(h) <= set(big.get(layer, [])) for layer, h in small.items())
    floored = heads_at_fraction(ranking, 1.0, layers=3, heads=4, floor=1)
    assert all(len(h) == 3 for h in floored.values())


def test_grid_and_order_validation():
    with pytest.raises(MbpError, match=r"grid value 1\.5 is outside"):
        check_grid([0, 1.5])
    with pytest.raises(MbpError, match="unknown order 'best'"):
        prune_order(None, "best")
    assert layer_targets(6)["group:bottom"] == [0, 1]
    assert layer_targets(12)["group:top"] == [8, 9, 10, 11]
