"""The anchor-style baseline: how reference pruning tools evaluate a head-pruning grid point.

Michel et al.'s `run_glue` pruning script (and transformers' `run_bertology.py` after it) builds
features padded to max_seq_length = 128, keeps the FULL model and multiplies each head's output
by a 0/1 mask, runs eager attention in fp32 with a sequential eval loader of batch 32, and takes
the argmax. Here the mask is mbp's `head_gate` (a zero gate is exactly a zero head_mask entry),
on an eager-attention twin of the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

from mbp.engine.gate import gate_from_heads, head_gate
from mbp.engine.layout import model_shape

BATCH = 32


def pad_all(encoded, pad_id: int, max_length: int = 128) -> dict[str, torch.Tensor]:
    """Every example padded to max_length, as `convert_examples_to_features` does."""
    n = len(encoded.input_ids)
    ids = np.full((n, max_length), pad_id, dtype=np.int64)
    mask = np.zeros((n, max_length), dtype=np.int64)
    types = np.zeros((n, max_length), dtype=np.int64)
    for i, x in enumerate(encoded.input_ids):
        x = x[:max_length]
        ids[i, : len(x)] = x
        mask[i, : len(x)] = 1
        if encoded.token_type_ids is not None:
            types[i, : len(x)] = encoded.token_type_ids[i][:max_length]
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
    }


def anchor_predict(
    model, features: dict[str, torch.Tensor], gate: torch.Tensor, device: str = "cpu"
) -> np.ndarray:
    """Argmax predictions of the masked full-width model, batch 32, fp32."""
    n = features["input_ids"].shape[0]
    preds = []
    model.eval()
    with torch.no_grad(), head_gate(model, gate.to(device)):
        for start in range(0, n, BATCH):
            batch = {k: v[start : start + BATCH].to(device) for k, v in features.items()}
            preds.append(model(**batch).logits.argmax(-1).cpu())
    return torch.cat(preds).numpy()


def anchor_sweep(
    model, encoded, pad_id: int, cells: list[dict[int, list[int]]], device: str = "cpu"
) -> list[float]:
    """Accuracy at every grid cell (each cell evaluated, as the reference scripts do)."""
    layers, heads = model_shape(model)
    features = pad_all(encoded, pad_id)
    labels = np.asarray(encoded.labels)
    out = []
    for pruned in cells:
        gate = gate_from_heads(pruned, layers, heads)
        preds = anchor_predict(model, features, gate, device)
        out.append(float((preds == labels).mean()))
    return out
