"""Figure 4: inference latency of structurally pruned models (random heads removed) vs the
unpruned model, beside the speed-up that the counted FLOPs predict.

One fixed batch of real XNLI pairs (a length-sorted window around the median length, as a batch
of a real sweep is), padded per batch like mbp; the levels are timed interleaved (rotating order).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from bench.common import forward_flops, kept_heads, lengths, median, take
from mbp.engine.batching import length_sorted_batches
from mbp.engine.layout import model_shape
from mbp.engine.orders import heads_at_fraction, prune_order
from mbp.engine.prune import prune_heads

LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9)


@dataclass
class PruneResult:
    level: float
    heads_removed: int
    seconds: list[float]
    flops: float


def median_window(encoded, size: int):
    """`size` examples around the median length (a typical length-sorted batch)."""
    seq = lengths(encoded)
    order = np.argsort(seq, kind="stable")
    start = max(0, len(order) // 2 - size // 2)
    return take(encoded, order[start : start + size])


def latency(model, encoded, pad_id: int, *, batch: int, repeats: int) -> list[PruneResult]:
    layers, heads = model_shape(model)
    ranking = prune_order(None, "random", seed=0, shape=(layers, heads))
    chosen = median_window(encoded, batch)
    (inputs,) = [b.inputs for b in length_sorted_batches(chosen, batch, pad_id, save_padding=False)]
    width = inputs["input_ids"].shape[1]
    models, results = [], []
    for level in LEVELS:
        removed = heads_at_fraction(ranking, level, layers=layers, heads=heads)
        models.append(prune_heads(model, removed) if removed else model)
        executed = np.full(len(chosen.input_ids), width)
        results.append(
            PruneResult(
                level,
                sum(len(h) for h in removed.values()),
                [],
                forward_flops(model.config, executed, kept_heads(model.config, removed)),
            )
        )
    with torch.inference_mode():
        for m in models:  # warm each shape once (allocator, thread pool, BLAS packing)
            m(**inputs)
        for r in range(repeats):
            shift = r % len(LEVELS)
            for i in list(range(len(LEVELS)))[shift:] + list(range(len(LEVELS)))[:shift]:
                t0 = time.perf_counter()
                models[i](**inputs)
                results[i].seconds.append(time.perf_counter() - t0)
    return results


def summary(results: list[PruneResult]) -> list[tuple[float, float, float, float]]:
    """(level, achieved speed-up, predicted speed-up, achieved/predicted) per level."""
    base_t = median(results[0].seconds)
    base_f = results[0].flops
    out = []
    for r in results:
        achieved = base_t / median(r.seconds)
        predicted = base_f / r.flops
        out.append((r.level, achieved, predicted, achieved / predicted))
    return out
