"""Per-example outcomes: what a model predicted for each evaluated example, stored compactly
so intervals (mbp.analysis.bootstrap) can be computed after the fact without re-running it.

One `outcomes` row per (run, evaluated model): the model is named by `model_key`, the cell id
of the cell that evaluated it ("random/0/0.3", "layer:2") or "unpruned" for a layer-wise run's
base model. Predictions and gold labels are text, in the examples' stored order:
- encoding "classes": one character per example, the class id as a digit (tasks with <= 10
  labels);
- encoding "values": a JSON list of regression outputs rounded to 4 decimals (STS-B).
Labels repeat in every row of a run, which costs nothing once Parquet dictionary-encodes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mbp.errors import MbpError

UNPRUNED = "unpruned"  # the model_key of a layer-wise run's unpruned model


def encode(values: Sequence[Any] | np.ndarray, regression: bool) -> tuple[str, str]:
    """(encoding, text) for predictions or labels."""
    array = np.asarray(values)
    if regression:
        return "values", json.dumps([round(float(v), 4) for v in array], separators=(",", ":"))
    if array.size and (array.min() < 0 or array.max() > 9):
        raise MbpError(
            f"class ids {int(array.min())}..{int(array.max())} do not fit one digit each: "
            "outcomes store tasks with at most 10 labels"
        )
    return "classes", "".join(str(int(v)) for v in array)


def decode(encoding: str, text: str) -> np.ndarray:
    """Predictions or labels back as an array (int8 class ids or float32 values)."""
    if encoding == "classes":
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int8) - ord("0")
    if encoding == "values":
        return np.asarray(json.loads(text), dtype=np.float32)
    raise MbpError(f"unknown outcome encoding {encoding!r}: expected 'classes' or 'values'")


def outcome_row(
    model_key: str, predictions: np.ndarray, labels: np.ndarray, regression: bool
) -> dict[str, Any]:
    """The `outcomes` row (without run_id) of one evaluated model."""
    encoding, preds = encode(predictions, regression)
    _, gold = encode(labels, regression)
    return {
        "model_key": model_key,
        "n_examples": len(labels),
        "encoding": encoding,
        "predictions": preds,
        "labels": gold,
    }
