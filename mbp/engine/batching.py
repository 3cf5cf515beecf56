"""Batches sorted by length and padded per batch: no example is padded beyond its batch's longest.

for batch in length_sorted_batches(encoded, batch_size=64, pad_id=tokenizer.pad_token_id):
    logits = model(**batch.inputs).logits   # batch.index: positions in `encoded`

For training, `grouped_batches` keeps batches random but of similar lengths: Hugging Face's
length-grouped order (shuffle, sort within megabatches of a few batches), batch order shuffled.
"""

from __future__ import annotations

import itertools
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
    encoded,
    batch_size: int,
    pad_id: int,
    device: str | torch.device = "cpu",
    *,
    save_padding: bool = True,
) -> Iterator[Batch]:
    """Yield batches of `encoded` (an `mbp.tasks.Encoded`), longest first, padded per batch,
    at most `batch_size` each, cut where that saves padding (`least_padding_bounds`), or in
    fixed chunks of `batch_size` with `save_padding=False`.

    Longest first, so the first batch shows the peak memory at once. Evaluation and scoring
    may cut anywhere (an example's result does not depend on its batch); training must not:
    a training batch is one optimiser step, so the fine-tune asks for fixed chunks.
    """
    lengths = _lengths(encoded)
    order = np.argsort(-lengths, kind="stable")
    if save_padding:
        bounds = least_padding_bounds(lengths[order], batch_size)
    else:
        bounds = [*range(0, len(order), batch_size), len(order)]
    for start, stop in itertools.pairwise(bounds):
        yield padded_batch(encoded, order[start:stop], pad_id, device, lengths)


#: A batch's fixed cost in padded-token equivalents (dispatch per op, GEMMs with few rows):
#: a sorted run of examples is cut into one more batch only when that saves more padding.
BATCH_OVERHEAD_TOKENS = 128


def least_padding_bounds(
    sorted_lengths: np.ndarray, batch_size: int, overhead: int = BATCH_OVERHEAD_TOKENS
) -> list[int]:
    """Cut points [0, ..., n] of longest-first lengths into batches of at most `batch_size`
    that minimise padded tokens + `overhead` per batch (exact, by dynamic programming).

    Fixed-size chunks pad a short example to the longest of its chunk; with few examples (one
    chunk) that is most of the work. Each example's result does not depend on its batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} must be >= 1: e.g. 32 or 64")
    n = len(sorted_lengths)
    widths = np.asarray(sorted_lengths, dtype=np.float64)  # a batch [i, j) is widths[i] wide
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        starts = np.arange(max(0, j - batch_size), j)
        cost = best[starts] + (j - starts) * widths[starts] + overhead
        k = int(np.argmin(cost))  # ties: the earliest start, i.e. the fewest batches
        best[j], cut[j] = cost[k], starts[k]
    bounds = [n]
    while bounds[-1] > 0:
        bounds.append(int(cut[bounds[-1]]))
    return bounds[::-1]


def grouped_order(
    lengths: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    megabatch_mult: int | None = None,
) -> list[np.ndarray]:
    """Training batches (index arrays) of similar lengths, still random: Hugging Face's
    `get_length_grouped_indices` (the Trainer's `group_by_length`: shuffle, sort each
    megabatch of `megabatch_mult` batches by length, longest example first), cut into batches
    whose order is then shuffled (the Trainer keeps each megabatch's longest-first order).

    `megabatch_mult=None` is the Trainer's rule: min(n // (4 * batch_size), 50), at least 1, so
    a small training set still has about 4 megabatches. One megabatch for the whole epoch
    (a global sort) cost 1.0-6.5 dev points on a 48-step SST-2 recipe (docs/BENCHMARKS.md 11).
    Every example is in exactly one batch; ceil(n / batch_size) batches, as random batches.
    """
    from transformers.trainer_pt_utils import get_length_grouped_indices

    if batch_size < 1 or (megabatch_mult is not None and megabatch_mult < 1):
        raise ValueError(
            f"batch_size {batch_size} and megabatch_mult {megabatch_mult} must be >= 1 "
            "(megabatch_mult None: the Trainer's rule)"
        )
    # the permutation comes from `rng` (the spec's seed), through a torch generator
    generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    order = np.asarray(
        get_length_grouped_indices(
            lengths.tolist(), batch_size, mega_batch_mult=megabatch_mult, generator=generator
        ),
        dtype=np.int64,
    )
    # megabatches hold whole batches (all but the last), so these cuts never straddle two
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def grouped_batches(
    encoded,
    batch_size: int,
    pad_id: int,
    device: str | torch.device,
    rng: np.random.Generator,
    megabatch_mult: int | None = None,
) -> Iterator[Batch]:
    """One epoch of `grouped_order` batches of `encoded`, each padded to its own longest."""
    lengths = _lengths(encoded)
    for index in grouped_order(lengths, batch_size, rng, megabatch_mult):
        yield padded_batch(encoded, index, pad_id, device, lengths)


def _lengths(encoded) -> np.ndarray:
    return np.array([len(x) for x in encoded.input_ids], dtype=np.int64)


def padded_batch(
    encoded, index: np.ndarray, pad_id: int, device: str | torch.device, lengths=None
) -> Batch:
    """The examples `index` of `encoded`, in that order, padded to the longest of them."""
    lengths = _lengths(encoded) if lengths is None else lengths
    has_types = getattr(encoded, "token_type_ids", None) is not None
    labels = np.asarray(encoded.labels)
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
    return Batch(
        inputs, torch.from_numpy(labels[index]).to(device), index, int(lengths[index].sum())
    )
