"""A new user's path: fine-tune once, then run on that checkpoint (`--checkpoint ID`) instead of
silently starting a second, default-sized fine-tune; long fine-tunes are announced, weak ones
flagged at once."""

from __future__ import annotations

import json

import pytest

import mbp.engine.finetune
from mbp.cli import main
from mbp.errors import MbpError
from mbp.experiments import checkpoints
from mbp.experiments.context import RunContext
from mbp.experiments.params import Experiment, FinetuneParams
from mbp.store import ResultsStore
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2


@pytest.fixture(name="tiny")
def _tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    data = make_tiny_sst2(tmp_path / "data")
    return str(model), str(data), tmp_path / "store.duckdb"


def _cli(*args: str) -> None:
    assert main([*args, "--quiet"]) == 0


def test_a_sweep_on_a_named_checkpoint_trains_nothing(tiny, monkeypatch, capsys):
    model, data, store = tiny
    common = ("--model", model, "--task", "sst2", "--data-dir", data, "--store", str(store))
    _cli("finetune", *common, "--train-examples", "32", "--epochs", "1", "--json")
    ckpt_id = json.loads(capsys.readouterr().out)[0]["key"]
    listed = ResultsStore(store, read_only=True).checkpoints()
    assert listed["ckpt_id"].tolist() == [ckpt_id]

    def no_training(*args, **kwargs):
        raise AssertionError("a run on a stored checkpoint must not fine-tune")

    monkeypatch.setattr(mbp.engine.finetune, "finetune", no_training)
    _cli("sweep", *common, "--checkpoint", ckpt_id, "--order", "random", "--seeds", "0",
         "--grid", "0,1", "--examples", "16", "--importance-examples", "8")  # fmt: skip
    runs = ResultsStore(store, read_only=True).runs()
    (spec,) = [json.loads(s) for s in runs["spec_json"]]
    assert spec["checkpoint"] == ckpt_id and runs["status"].tolist() == ["done"]
    # without --checkpoint the defaults name another recipe, which would train (refused here)
    with pytest.raises(AssertionError, match="must not fine-tune"):
        main(["sweep", *common, "--order", "random", "--grid", "0,1", "--quiet"])


def test_a_checkpoint_of_another_model_or_task_is_refused(tiny, capsys):
    model, data, store = tiny
    common = ("--model", model, "--data-dir", data, "--store", str(store))
    _cli("finetune", *common, "--task", "sst2", "--train-examples", "32", "--epochs", "1", "--json")
    ckpt_id = json.loads(capsys.readouterr().out)[0]["key"]
    assert main(["sweep", *common, "--task", "mnli", "--checkpoint", ckpt_id]) == 2
    err = capsys.readouterr().err
    assert "fine-tuned on sst2, but this run is" in err and err.count("\n") == 1


def test_a_long_finetune_is_announced_with_the_stored_alternatives(tiny, capsys):
    model, data, store = tiny
    ctx = RunContext(store=ResultsStore(store), data_dir=data, device="cpu", progress=False)
    spec = checkpoints.finetune_spec(
        Experiment(model, "sst2", finetune=FinetuneParams(train_examples=0, epochs=3))
    )
    ctx.store.record_checkpoint(
        "0123456789abcdef", model=model, task="sst2", spec_json="{}", path="/x",
        metric="accuracy", dev_value=0.81, n_train=4000,
    )  # fmt: skip
    short = checkpoints.estimate_finetune(ctx, spec, 64).seconds  # nothing measured: the prior
    assert short < checkpoints.ANNOUNCE_AFTER_S
    checkpoints.announce_finetune(ctx, spec)  # 64 examples: quick, so nothing is said
    assert capsys.readouterr().err == ""
    big = checkpoints.ANNOUNCE_AFTER_S / short * 64 * 2  # examples that take twice the limit
    long_spec = type(spec)(**{**spec.__dict__, "epochs": spec.epochs * big / 64})
    checkpoints.announce_finetune(ctx, long_spec)
    said = capsys.readouterr().err
    assert said.startswith(f"fine-tuning {model} on sst2: 64 examples x ")
    assert "estimated on cpu; prior, not measured here)" in said
    assert "0123456789abcdef (4,000 examples, accuracy 0.810)" in said
    assert "--checkpoint ID uses one" in said and said.count("\n") == 1


def test_a_finetune_near_the_majority_score_says_so(tiny, capsys):
    _, data, store = tiny
    ctx = RunContext(store=ResultsStore(store), data_dir=data, device="cpu", progress=False)
    from mbp.tasks.scoring import majority_baseline

    base = majority_baseline("sst2", data)
    weak = mbp.engine.finetune.Checkpoint("k", None, "accuracy", base + 0.01, "dev", 32, 0.0)
    assert checkpoints.warn_if_weak(ctx, "sst2", weak)
    said = capsys.readouterr().err
    assert said.startswith("warning: the fine-tuned sst2 model scores accuracy") and (
        f"majority class ({base:.3f})" in said
    )
    strong = mbp.engine.finetune.Checkpoint("k", None, "accuracy", base + 0.2, "dev", 32, 0.0)
    assert not checkpoints.warn_if_weak(ctx, "sst2", strong)
    assert capsys.readouterr().err == ""


def test_unknown_checkpoint_ids_change_nothing(tiny):
    model, data, store = tiny
    exp = Experiment(model, "sst2", finetune=FinetuneParams(checkpoint="0123456789abcdef"))
    ctx = RunContext(store=ResultsStore(store), data_dir=data, device="cpu", progress=False)
    with pytest.raises(MbpError, match="is not in the store"):
        checkpoints.checkpoint(ctx, exp)
    assert ctx.store.counts()["runs"] == 0
