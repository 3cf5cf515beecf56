"""The iterative order's fast path gives what its definition gives (tiny model, fast).

The reference is the iterative order written out with engine primitives, as the runner ran it
before it was made fast: score the heads with the removed ones gated off, walk the new ranking to
the next grid point, evaluate a freshly pruned copy on every example. The runner's sweep must
store the same head sets and the same predictions (a near-tie may flip one example).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbp.engine.evaluate import predict, predictions_from_logits
from mbp.engine.gate import gate_from_heads
from mbp.engine.importance import head_importance
from mbp.engine.orders import heads_at_fraction, prune_order
from mbp.engine.prune import prune_heads
from mbp.experiments.context import RunContext
from mbp.experiments.data import eval_data, importance_data, tokenizer
from mbp.experiments.params import Experiment, FinetuneParams
from mbp.experiments.runner import load_model, run_sweep
from mbp.store import ResultsStore
from mbp.store.outcomes import decode
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model_dir = make_tiny_model_dir(tmp_path / "tiny-model", layers=3, heads=4)
    data = make_tiny_sst2(tmp_path / "data", n_dev=40)
    return str(model_dir), str(data), ResultsStore(tmp_path / "store.duckdb")


def _ctx(store, data, batch_size: int = 16) -> RunContext:
    return RunContext(store=store, data_dir=data, device="cpu", progress=False,
                      batch_size=batch_size)  # fmt: skip


def _exp(model: str, normalize: bool = False) -> Experiment:
    opts = FinetuneParams(train_examples=32, epochs=1, batch_size=8)
    return Experiment(model, "sst2", "en", n_examples=30, finetune=opts, importance_examples=20,
                      normalize=normalize)  # fmt: skip


def reference_chain(ctx, exp, floor: int) -> list[tuple[dict, np.ndarray]]:
    """(heads removed, predictions) at every grid point, by the order's definition."""
    loaded = load_model(ctx, exp)
    model, pad = loaded.model, loaded.pad_id
    tok = tokenizer(ctx, exp)
    data = eval_data(ctx, exp, tok)
    _, scoring = importance_data(ctx, exp, tok, data)
    layers, heads = 3, 4

    def ranking(removed):
        gate = gate_from_heads(removed, layers, heads) if removed else None
        scores = head_importance(model, scoring, regression=False, pad_id=pad, batch_size=16,
                                 normalize=exp.normalize, base_gate=gate)  # fmt: skip
        return prune_order(scores.scores, "importance")

    removed: dict = {}
    out = []
    for fraction in GRID:
        order = ranking(removed)
        removed = heads_at_fraction(order, fraction, layers=layers, heads=heads, floor=floor,
                                    already=removed)  # fmt: skip
        pruned = prune_heads(model, removed) if removed else model
        logits = predict(pruned, data.encoded, pad_id=pad, batch_size=16, precision="fp32")
        out.append((removed, predictions_from_logits(logits, False)))
    return out


@pytest.mark.parametrize(("floor", "normalize"), [(0, False), (1, True)])
def test_iterative_sweep_matches_its_definition(tiny, floor, normalize):
    model, data, store = tiny
    ctx, exp = _ctx(store, data), _exp(model, normalize)
    run_id = run_sweep(ctx, exp, order="iterative", grid=GRID, floor=floor)
    expected = reference_chain(_ctx(store, data), exp, floor)

    points = store.curve_points(run_ids=[run_id]).sort_values("fraction")
    outcomes = store.outcomes(run_ids=[run_id]).set_index("model_key")
    assert len(points) == len(GRID)
    for (removed, preds), point in zip(expected, points.itertuples(), strict=True):
        stored = {}
        for layer, head in json.loads(point.pruned_heads):
            stored.setdefault(layer, []).append(head)
        assert stored == removed, f"fraction {point.fraction}"
        row = outcomes.loc[f"iterative/0/{point.fraction:g}"]
        got = decode(row.encoding, row.predictions)
        assert (got != preds).sum() <= 1, f"fraction {point.fraction}: predictions differ"


def test_iterative_cells_asked_out_of_order_restart_the_chain(tiny):
    """A cell asked for again (a resumed or forced run) walks the chain to the same head set."""
    model, data, store = tiny
    ctx, exp = _ctx(store, data), _exp(model)
    first = run_sweep(ctx, exp, order="iterative", grid=GRID)
    before = store.curve_points(run_ids=[first]).sort_values("fraction").pruned_heads.tolist()
    ctx.force = True
    run_sweep(ctx, exp, order="iterative", grid=GRID)
    after = store.curve_points(run_ids=[first]).sort_values("fraction").pruned_heads.tolist()
    assert before == after


def _encoded(n: int = 29):
    from mbp.tasks.encode import Encoded

    rng = np.random.default_rng(1)
    ids = [rng.integers(5, 100, size=int(rng.integers(3, 20))).astype(np.int64) for _ in range(n)]
    return Encoded(input_ids=ids, token_type_ids=None, labels=rng.integers(0, 2, n),
                   ids=np.arange(n))  # fmt: skip


def test_descending_from_a_pruned_models_states_equals_a_full_evaluation():
    """A nested chain evaluated point after point from the previous point's states."""
    from mbp.engine.prefix import PrefixCache
    from mbp.models import tiny_bert

    model, _ = tiny_bert(layers=4, heads=4, hidden=16)
    encoded = _encoded()
    base = PrefixCache.build(model, encoded, pad_id=0, batch_size=8)
    chain = [{3: [1]}, {2: [0], 3: [1]}, {2: [0], 3: [1, 2]}, {0: [3], 2: [0], 3: [1, 2]}]
    for heads in chain:
        pruned = prune_heads(model, heads)
        first = base.first_difference(heads)
        assert first == min(h for h in heads if set(heads[h]) != set(base.heads.get(h, ())))
        base = base.descend(pruned, heads)
        expected = predict(pruned, encoded, pad_id=0, batch_size=8)
        assert np.allclose(base.base_logits, expected, atol=1e-6)
    assert base.first_difference(chain[-1]) == 4  # the same model: nothing to run


@pytest.mark.parametrize("n", [1, 7, 64, 131])
def test_least_padding_bounds_are_optimal_and_respect_the_batch_size(n):
    from itertools import pairwise

    from mbp.engine.batching import least_padding_bounds

    rng = np.random.default_rng(n)
    lengths = np.sort(rng.integers(5, 128, size=n))[::-1]
    bounds = least_padding_bounds(lengths, 16, overhead=50)
    assert bounds[0] == 0 and bounds[-1] == n
    assert all(0 < b - a <= 16 for a, b in pairwise(bounds))
    cost = sum((b - a) * lengths[a] + 50 for a, b in pairwise(bounds))
    chunks = [*range(0, n, 16), n]  # fixed-size chunks: never cheaper
    assert cost <= sum((b - a) * lengths[a] + 50 for a, b in pairwise(chunks))
    if n <= 7:  # brute force every cut set
        from itertools import combinations

        best = min(
            sum((b - a) * lengths[a] + 50 for a, b in pairwise([0, *cuts, n]))
            for k in range(n)
            for cuts in combinations(range(1, n), k)
        )
        assert cost == best


def test_least_padding_bounds_refuses_a_zero_batch():
    from mbp.engine.batching import least_padding_bounds

    with pytest.raises(ValueError, match="batch_size 0"):
        least_padding_bounds(np.array([3, 2]), 0)
