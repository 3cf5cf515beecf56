"""The plan's cost: measured minutes per step with their device, and the labelled projection
to the paper's recipe (bench/plan_cost.py)."""

import pandas as pd
import pytest

from bench.plan_cost import FULL_TRAINING_EXAMPLES, PAPER_EPOCHS, gpu_note, project
from mbp.experiments.plan import paper_plan


def _runs(step_name: str, seconds_per_run: float, device: str = "cpu", status: str = "done"):
    """Stored runs exactly as the plan step `step_name` leaves them."""
    step = next(s for s in paper_plan() if s.name == step_name)
    return pd.DataFrame(
        [
            {"kind": kind, "model": model, "task": task, "lang": lang, "method": method,
             "status": status, "command": step.command, "device": device,
             "protocol": "retrain", "cell_seconds": seconds_per_run}
            for kind, model, task, lang, method in step.runs
        ]
    )  # fmt: skip


def test_a_finished_step_is_projected_from_its_own_rate():
    runs = _runs("retrain-qnli-minilm-l6", 600.0)  # 10 minutes, one run
    table = project(runs).set_index("step")
    row = table.loc["retrain-qnli-minilm-l6"]
    # the plan's recipe: 2,000 examples x 2 epochs; the paper's: all of QNLI x 3 epochs
    scale = FULL_TRAINING_EXAMPLES["qnli"] * PAPER_EPOCHS / (2000 * 2)
    assert row["state"] == "done" and row["device"] == "cpu" and row["measured min"] == 10.0
    assert row["projected h"] == pytest.approx(10.0 * scale / 60, abs=0.05)
    # XNLI fine-tunes on MNLI: its projection uses MNLI's size
    assert table.loc["retrain-xnli-thirds", "paper recipe"].startswith("392,702")
    # steps with nothing stored are neither measured nor projected
    assert table.loc["retrain-sst2-e5-small", "state"] == "not started"
    assert pd.isna(table.loc["retrain-sst2-e5-small", "projected h"])


def test_an_unfinished_step_is_not_projected():
    runs = _runs("retrain-qnli-minilm-l6", 600.0, status="running")
    row = project(runs).set_index("step").loc["retrain-qnli-minilm-l6"]
    assert row["state"] == "in progress" and pd.isna(row["projected h"])


def test_the_gpu_projection_needs_a_gpu_measured_run():
    assert "not projected" in gpu_note(_runs("retrain-qnli-minilm-l6", 60.0))
    gpu = _runs("retrain-qnli-minilm-l6", 60.0, device="cuda:0")
    assert "measured on a GPU" in gpu_note(gpu)
    assert project(gpu).set_index("step").loc["retrain-qnli-minilm-l6", "device"] == "cuda:0"
