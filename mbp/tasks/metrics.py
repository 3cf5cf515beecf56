"""Task metrics, computed by scikit-learn and scipy (the references GLUE results are quoted in).

>>> compute_metrics("mrpc", [1, 0, 1], [1, 1, 1])
{'f1': 0.8, 'accuracy': 0.6666666666666666}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from mbp.errors import MbpError
from mbp.tasks.registry import TaskInfo, get_task


def _as_arrays(
    info: TaskInfo, predictions: Sequence | np.ndarray, labels: Sequence | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    preds = np.asarray(predictions)
    gold = np.asarray(labels)
    if info.is_regression:
        preds = preds.reshape(len(preds), -1)[:, 0] if preds.ndim == 2 else preds
        preds, gold = preds.astype(np.float64), gold.astype(np.float64)
    elif preds.ndim == 2:  # logits (n, classes): score the argmax
        preds = preds.argmax(axis=1)
    if preds.ndim != 1 or gold.ndim != 1 or len(preds) != len(gold):
        raise MbpError(
            f"{info.name} metrics need one prediction per label: got predictions of shape "
            f"{np.shape(predictions)} and labels of shape {np.shape(labels)}"
        )
    if len(gold) == 0:
        raise MbpError(f"{info.name} metrics of zero examples: evaluate at least one example")
    return preds, gold


def _correlation(kind: str, preds: np.ndarray, gold: np.ndarray) -> float:
    from scipy import stats  # imported on use: scipy and sklearn cost seconds at import time

    if len(gold) < 2:
        raise MbpError(f"{kind} correlation needs at least 2 examples, got {len(gold)}")
    with warnings.catch_warnings():
        # A constant input has no correlation: scipy warns and returns nan, which we keep.
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.pearsonr(preds, gold) if kind == "pearson" else stats.spearmanr(preds, gold)
    return float(result[0])


def compute_metrics(
    task: str | TaskInfo, predictions: Sequence | np.ndarray, labels: Sequence | np.ndarray
) -> dict[str, float]:
    """The task's metrics (`TaskInfo.metrics`, primary first) for predictions vs labels.

    predictions: class ids (or (n, classes) logits, scored by argmax); floats for stsb.
    Keys: "accuracy", "f1" (binary, positive class = label id 1), "matthews", "pearson",
    "spearman".
    """
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    info = get_task(task)
    preds, gold = _as_arrays(info, predictions, labels)
    out: dict[str, float] = {}
    for metric in info.metrics:
        if metric == "accuracy":
            out[metric] = float(accuracy_score(gold, preds))
        elif metric == "f1":
            out[metric] = float(
                f1_score(gold, preds, pos_label=1, average="binary", zero_division=0)
            )
        elif metric == "matthews":
            out[metric] = float(matthews_corrcoef(gold, preds))
        else:
            out[metric] = _correlation(metric, preds, gold)
    return out
