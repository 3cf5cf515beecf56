"""Metrics agree with scikit-learn and scipy on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from mbp.errors import MbpError
from mbp.tasks import compute_metrics, get_task

GOLD = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1])
PRED = np.array([1, 0, 0, 1, 1, 1, 0, 1, 1, 0])


def test_accuracy_tasks():
    for task in ("sst2", "qnli", "rte"):
        assert compute_metrics(task, PRED, GOLD) == {"accuracy": accuracy_score(GOLD, PRED)}
    assert compute_metrics("sst2", PRED, GOLD)["accuracy"] == pytest.approx(0.6)


def test_nli_three_classes():
    gold = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 2, 2, 1, 1, 0, 2])
    assert compute_metrics("mnli", pred, gold) == {"accuracy": pytest.approx(5 / 7)}
    assert compute_metrics("xnli", pred, gold)["accuracy"] == accuracy_score(gold, pred)


@pytest.mark.parametrize("task", ["mrpc", "qqp"])
def test_f1_and_accuracy(task):
    out = compute_metrics(task, PRED, GOLD)
    assert list(out) == ["f1", "accuracy"]
    assert out["f1"] == f1_score(GOLD, PRED)
    assert out["f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))  # tp=4, fp=2, fn=2
    assert out["accuracy"] == accuracy_score(GOLD, PRED)


def test_matthews():
    out = compute_metrics("cola", PRED, GOLD)
    assert out == {"matthews": matthews_corrcoef(GOLD, PRED)}
    assert out["matthews"] == pytest.approx(1 / 6)


def test_stsb_correlations():
    gold = np.array([0.0, 1.5, 2.0, 3.2, 4.8, 5.0], dtype=np.float32)
    pred = np.array([0.3, 1.0, 2.5, 3.0, 4.0, 4.9])
    out = compute_metrics("stsb", pred, gold)
    assert list(out) == ["spearman", "pearson"]
    assert out["pearson"] == pytest.approx(pearsonr(pred, gold)[0])
    assert out["spearman"] == pytest.approx(spearmanr(pred, gold)[0])
    assert out["spearman"] == pytest.approx(1.0)
    # (n, 1) regression outputs are accepted as they come out of a model head.
    assert compute_metrics("stsb", pred[:, None], gold) == out


def test_logits_are_scored_by_argmax():
    logits = np.array([[2.0, 0.1], [0.0, 3.0], [1.0, 0.5]])
    assert compute_metrics("rte", logits, [0, 1, 1]) == {"accuracy": pytest.approx(2 / 3)}


def test_values_are_python_floats():
    for task in ("cola", "mrpc", "stsb"):
        preds = PRED.astype(float) if get_task(task).is_regression else PRED
        assert all(type(v) is float for v in compute_metrics(task, preds, GOLD).values())


def test_constant_predictions():
    assert compute_metrics("cola", np.ones(10, int), GOLD) == {"matthews": 0.0}
    assert compute_metrics("mrpc", np.zeros(10, int), GOLD)["f1"] == 0.0
    out = compute_metrics("stsb", np.full(4, 2.0), [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(out["pearson"]) and math.isnan(out["spearman"])


def test_bad_shapes():
    with pytest.raises(
        MbpError, match=r"one prediction per label: got predictions of shape \(3,\)"
    ):
        compute_metrics("rte", [0, 1, 1], [0, 1])
    with pytest.raises(MbpError, match="zero examples"):
        compute_metrics("rte", [], [])
    with pytest.raises(MbpError, match="at least 2 examples"):
        compute_metrics("stsb", [1.0], [1.0])
    with pytest.raises(MbpError, match="unknown task"):
        compute_metrics("glue", [0], [0])
