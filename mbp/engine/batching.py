"""Batches sorted by length and padded per batch: no example is padded beyond its batch's longest.

for batch in length_sorted_batches(encoded, batch_size=64, pad_id=tokenizer.pad_token_id):
    logits = model(**batch.inputs).logits   # batch.index: positions in `encoded`
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    inputs: dict[str, torch.Tensor]  # input_ids, attention_mask[, token_type_ids]; (batch, tokens)
    labels: torch.Tensor  # (batch,)
    index: np.ndarray  # (batch,) positions of these examples in the encoded set
    real_tokens: int  # non-padding tokens in the batch (for FLOP accounting)


def length_sorted_batches(
    encoded, batch_size: int, pad_id: int, device: str | torch.device = "cpu"
) -> Iterator[Batch]:
    """Yield batches of `encoded` (an `mbp.tasks.Encoded`), longest first, padded per batch.

    Longest first, so the first batch shows the peak memory at once.
    """
    lengths = np.array([len(x) for x in encoded.input_ids])
    order = np.argsort(-lengths, kind="stable")
    has_types = getattr(encoded, "token_type_ids", None) is not None
    labels = np.asarray(encoded.labels)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = int(lengths[index].max())
        ids = np.full((len(index), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(index), width), dtype=np.int64)
        types = np.zeros((len(index), width), dtype=np.int64) if has_types else None
        for row, i in enumerate(index):
            n = lengths[i]
            ids[row, :n] = encoded.input_ids[i]
            mask[row, :n] = 1
            if types is not None:
                types[row, :n] = encoded.token_type_ids[i]
        inputs = {
            "input_ids": torch.from_numpy(ids).to(device),
            "attention_mask": torch.from_numpy(mask).to(device),
        }
        if types is not None:
            inputs["token_type_ids"] = torch.from_numpy(types).to(device)
        yield Batch(
            inputs, torch.from_numpy(labels[index]).to(device), index, int(lengths[index].sum())
        )
