"""Fine-tune time estimates: this machine's measured rate where it has one (and says so), a
labelled prior otherwise; and one measured line early in a long fine-tune."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from mbp.engine.finetune import DONE_MARKER, FINETUNE_THREADS, checkpoint_dir, finetune, train
from mbp.engine.training_rate import TrainingRate
from mbp.experiments import checkpoints
from mbp.experiments.context import RunContext
from mbp.experiments.finetune_estimate import (
    MeasuredRate,
    estimate_finetune,
    model_size,
    rate_of,
    speed_setting,
)
from mbp.experiments.params import Experiment, FinetuneParams
from mbp.store import ResultsStore
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2


@pytest.fixture(name="tiny")
def _tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    data = make_tiny_sst2(tmp_path / "data")
    ctx = RunContext(store=ResultsStore(tmp_path / "store.duckdb"), data_dir=str(data),
                     device="cpu", progress=False)  # fmt: skip
    return str(model), str(data), ctx


def _spec(model: str, **recipe):
    params = FinetuneParams(**{"train_examples": 32, "epochs": 1, **recipe})
    return checkpoints.finetune_spec(Experiment(model, "sst2", finetune=params))


def test_the_estimate_uses_the_rate_this_machine_measured(tiny, capsys):
    model, data, ctx = tiny
    first = _spec(model)
    assert checkpoints.estimate_finetune(ctx, first, 32).source == "prior, not measured here"
    finetune(first, data_dir=data, device="cpu", progress=False)
    info = json.loads((checkpoint_dir(first) / DONE_MARKER).read_text())
    per_example = info["train_seconds"] / (info["n_train"] * first.epochs)
    assert info["threads"] == FINETUNE_THREADS and info["n_train"] == 32

    bigger = replace(first, epochs=3.0, seed=1)  # another recipe of the same model and task
    estimate = checkpoints.estimate_finetune(ctx, bigger, 1_000)
    assert estimate.source == "measured: 1 earlier fine-tune on this machine"
    assert estimate.seconds == pytest.approx(per_example * 1_000 * 3.0)
    # another speed setting (grouped batches) has no rate here: the prior, labelled as such
    grouped = replace(bigger, batching="grouped")
    assert checkpoints.estimate_finetune(ctx, grouped, 1_000).source.startswith("prior")

    long = replace(bigger, epochs=checkpoints.ANNOUNCE_AFTER_S / (per_example * 32) * 2)
    checkpoints.announce_finetune(ctx, long)  # 32 examples, epochs enough to take 6 min
    said = capsys.readouterr().err
    assert said.startswith(f"fine-tuning {model} on sst2: 32 examples x ")
    assert "of training estimated on cpu; measured: 1 earlier fine-tune on this machine)" in said


def test_without_a_rate_for_the_model_the_estimate_is_a_labelled_prior(tmp_path):
    small = str(make_tiny_model_dir(tmp_path / "small", layers=2))
    large = str(make_tiny_model_dir(tmp_path / "large", layers=4))
    assert model_size(large) == 2 * model_size(small) == 4 * 16**2
    spec = replace(_spec(large), max_length=64)

    prior = estimate_finetune(spec, 100, "cpu", 1, rates=[])
    assert prior.source == "prior, not measured here" and prior.seconds > 0
    measured_small = MeasuredRate(small, "sst2", 128, speed_setting(spec, "cpu"), 1, 0.5)
    scaled = estimate_finetune(spec, 100, "cpu", 1, rates=[measured_small])
    assert scaled.source.startswith("prior, not measured here for this model: scaled from 1 ")
    # twice the layers, half the length: 0.5 s x 2 x 1/2 per example
    assert scaled.seconds == pytest.approx(100 * 0.5)
    # rates on another device type or thread count are not this setting's
    gpu = replace(measured_small, setting=speed_setting(spec, "cuda"))
    two_threads = replace(measured_small, threads=2)
    for other in (gpu, two_threads):
        assert estimate_finetune(spec, 100, "cpu", 1, rates=[other]) == prior


def test_a_checkpoint_without_training_seconds_gives_no_rate(tiny):
    model, _, _ = tiny
    spec = _spec(model)
    old = {"spec": spec.to_dict(), "n_train": 32, "seconds": 9.0, "device": "cpu"}
    assert rate_of(old) is None
    rate = rate_of({**old, "train_seconds": 8.0})
    assert rate is not None and rate.s_per_example == 8.0 / 32 and rate.threads is None


def test_the_measured_rate_is_said_once_after_the_wait():
    rate = TrainingRate(total_steps=4, after_s=0.0)
    lines = [rate.step(8) for _ in range(4)]
    assert lines[0] is not None and lines[1:] == [None, None, None]
    assert "examples/s measured over the first 1 of 4 steps, ~" in lines[0]
    waiting = TrainingRate(total_steps=4, after_s=1e9)  # a fine-tune shorter than the wait
    assert [waiting.step(8) for _ in range(4)] == [None] * 4


@pytest.mark.parametrize(("progress", "after_s", "lines"), [(True, 0.0, 1), (True, 1e9, 0),
                                                            (False, 0.0, 0)])  # fmt: skip
def test_a_long_finetune_says_its_measured_rate_unless_quiet(
    tiny, capsys, progress, after_s, lines
):
    model, data, _ = tiny
    spec = _spec(model, batch_size=8)  # 32 examples: 4 steps
    train(spec, torch.device("cpu"), data_dir=data, progress=progress, report_after_s=after_s)
    said = [s for s in capsys.readouterr().err.splitlines() if "examples/s measured" in s]
    assert len(said) == lines
    if lines:
        assert said[0].startswith(f"fine-tune {model} on sst2: ")
        assert "over the first 1 of 4 steps" in said[0]
