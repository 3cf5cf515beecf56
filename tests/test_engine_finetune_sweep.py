"""Fine-tuning and sweep orchestration on a tiny model and tiny data (fast)."""

from __future__ import annotations

import pytest

from mbp.engine.finetune import find_checkpoint, finetune, load_checkpoint
from mbp.engine.prune import pruned_heads_of
from mbp.experiments.context import RunContext
from mbp.experiments.params import Experiment, FinetuneParams
from mbp.experiments.runner import run_layers, run_sweep
from mbp.spec import FinetuneSpec
from mbp.store import ResultsStore
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model_dir = make_tiny_model_dir(tmp_path / "tiny-model", layers=3, heads=4)
    data = make_tiny_sst2(tmp_path / "data")
    return str(model_dir), str(data), ResultsStore(tmp_path / "store.duckdb")


def test_finetune_writes_a_checkpoint_and_reuses_it(tiny):
    model, data, _ = tiny
    spec = FinetuneSpec(model, "x", "sst2", train_examples=32, epochs=1, batch_size=8)
    assert find_checkpoint(spec) is None
    first = finetune(spec, data_dir=data, device="cpu", progress=False)
    assert first.path.exists() and 0.0 <= first.dev_value <= 1.0 and first.n_train == 32
    again = finetune(spec, data_dir=data, device="cpu", progress=False)
    assert again.path == first.path and again.seconds == first.seconds  # reused, not retrained


def test_prune_then_finetune_keeps_heads_removed(tiny):
    model, data, _ = tiny
    spec = FinetuneSpec(
        model, "x", "sst2", train_examples=32, epochs=1, batch_size=8, pruned_heads=((0, 1), (2, 3))
    )
    ckpt = finetune(spec, data_dir=data, device="cpu", progress=False)
    reloaded, _ = load_checkpoint(ckpt.path)
    assert pruned_heads_of(reloaded) == {0: [1], 2: [3]}


def _ctx(store, data):
    return RunContext(store=store, data_dir=data, device="cpu", progress=False, batch_size=16)


def _exp(model):
    opts = FinetuneParams(train_examples=32, epochs=1, batch_size=8)
    return Experiment(model, "sst2", "en", n_examples=24, finetune=opts, importance_examples=16)


def test_iterative_order_is_nested_and_respects_the_floor(tiny):
    model, data, store = tiny
    grid = (0.0, 0.25, 0.5, 0.75, 1.0)
    run_id = run_sweep(_ctx(store, data), _exp(model), order="iterative", grid=grid, floor=1)
    curves = store.curve_points(run_ids=[run_id]).sort_values("fraction")
    import itertools
    import json

    sets = [set(map(tuple, json.loads(h))) for h in curves.pruned_heads]
    assert all(a <= b for a, b in itertools.pairwise(sets))
    assert curves.heads_pruned.tolist() == [0, 3, 6, 9, 9]  # 12 heads, floor 1 x 3 layers -> max 9
    assert store.runs().set_index("run_id").loc[run_id, "status"] == "done"


def test_layer_run_has_every_layer_and_the_thirds(tiny):
    model, data, store = tiny
    run_id = run_layers(_ctx(store, data), _exp(model))
    frame = store.layer_importance(run_ids=[run_id])
    assert sorted(frame.target) == sorted(
        ["layer:0", "layer:1", "layer:2", "group:bottom", "group:middle", "group:top"]
    )
    row = frame.set_index("target").loc["layer:1"]
    assert row["drop"] == pytest.approx(row["base_value"] - row["value"])


def test_finished_runs_need_no_model_and_no_finetune(tiny, tmp_path, monkeypatch):
    """A store imported on another machine (empty cache) resumes without fine-tuning again."""
    import mbp.engine.finetune

    model, data, store = tiny
    ctx, exp = _ctx(store, data), _exp(model)
    grid = (0.0, 0.5, 1.0)
    sweep_ids = [run_sweep(ctx, exp, order=o, grid=grid) for o in ("importance", "random")]
    layers_id = run_layers(ctx, exp)
    counts = store.counts()

    def no_finetune(*args, **kwargs):
        raise AssertionError("a finished run must not fine-tune or load the model")

    monkeypatch.setattr(mbp.engine.finetune, "finetune", no_finetune)
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "empty-cache"))
    fresh = _ctx(store, data)
    again = [run_sweep(fresh, exp, order=o, grid=grid) for o in ("importance", "random")]
    assert again == sweep_ids and run_layers(fresh, exp) == layers_id
    assert store.counts() == counts

    # one missing cell: now the model is needed again
    store.delete_run(layers_id)
    with pytest.raises(AssertionError, match="must not fine-tune"):
        run_layers(fresh, exp)


def test_a_retrained_checkpoint_that_scores_differently_is_refused(tiny):
    """Stored runs name their checkpoint by spec; a different retrain must not extend them."""
    from mbp.errors import MbpError
    from mbp.experiments.checkpoints import finetune_spec

    model, data, store = tiny
    exp = _exp(model)
    spec = finetune_spec(exp)
    store.record_checkpoint(
        spec.key, model=model, task="sst2", spec_json=spec.to_json(), path="elsewhere",
        metric="accuracy", dev_value=0.123456, n_train=32,
    )  # fmt: skip
    with pytest.raises(MbpError, match="did not reproduce"):
        run_sweep(_ctx(store, data), exp, order="random", grid=(0.0, 1.0))
    assert store.curve_points().empty  # nothing was written
    store.record_checkpoint(
        spec.key, model=model, task="sst2", spec_json=spec.to_json(), path="elsewhere",
        metric="accuracy", dev_value=find_checkpoint(spec).dev_value, n_train=32,
    )  # fmt: skip
    run_sweep(_ctx(store, data), exp, order="random", grid=(0.0, 1.0))  # the same score: fine
