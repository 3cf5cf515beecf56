"""Evaluate a (pruned) classifier on encoded examples with the task's official metrics.

Inference mode, batches sorted by length and padded per batch, deterministic (eval mode, no
sampling). On CUDA, bf16/fp16 autocast; on CPU, fp32 on all cores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mbp.engine.batching import length_sorted_batches
from mbp.engine.device import Precision, autocast


def predict(
    model: nn.Module,
    encoded,
    *,
    pad_id: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    precision: Precision = "auto",
) -> np.ndarray:
    """Logits for every example of `encoded`, in its original order: (examples, labels)."""
    device = torch.device(device)
    model.eval()
    out: np.ndarray | None = None
    with torch.inference_mode(), autocast(device, precision):
        for batch in length_sorted_batches(encoded, batch_size, pad_id, device):
            logits = model(**batch.inputs).logits.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(encoded.input_ids), logits.shape[-1]), dtype=np.float32)
            out[batch.index] = logits
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


def predictions_from_logits(logits: np.ndarray, regression: bool) -> np.ndarray:
    """Class ids (argmax), or the single regression output for STS-B."""
    return logits[:, 0] if regression else logits.argmax(axis=-1)


def evaluate(
    model: nn.Module,
    encoded,
    task,
    *,
    pad_id: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    precision: Precision = "auto",
) -> dict[str, float]:
    """The task's metrics (see `mbp.tasks.compute_metrics`) of `model` on `encoded`."""
    from mbp.tasks import compute_metrics

    logits = predict(
        model, encoded, pad_id=pad_id, batch_size=batch_size, device=device, precision=precision
    )
    preds = predictions_from_logits(logits, task.labels is None)
    return compute_metrics(task, preds, np.asarray(encoded.labels))
