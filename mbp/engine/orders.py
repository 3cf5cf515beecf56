"""Prune orders: which heads go first, and which set is gone at each pruned fraction.

    ranking = prune_order(scores, "importance")          # least important first
    heads = heads_at_fraction(ranking, 0.3, layers=12, heads=12, floor=1)

Orders: importance (least important first), reverse (most important first), random (seeded);
"iterative" re-scores after each grid step and is driven by the runner (`mbp.experiments.cells.SweepWork`).
A per-layer floor keeps at least k heads in every layer; then 100 % means "all that may go".
"""

from __future__ import annotations

import numpy as np
import torch

from mbp.engine.grid import DEFAULT_GRID, check_grid
from mbp.engine.names import ORDERS, Order
from mbp.errors import MbpError

__all__ = ["DEFAULT_GRID", "ORDERS", "Order", "check_grid", "heads_at_fraction", "prune_order"]


def prune_order(
    scores: torch.Tensor | None, order: str, *, seed: int = 0, shape: tuple[int, int] | None = None
) -> list[tuple[int, int]]:
    """All (layer, head) pairs, first-to-prune first."""
    if order not in ORDERS:
        raise MbpError(f"unknown order {order!r}: use one of {', '.join(ORDERS)}")
    if order == "random":
        layers, heads = shape if shape is not None else tuple(scores.shape)
        perm = np.random.default_rng(seed).permutation(layers * heads)
        return [(int(i // heads), int(i % heads)) for i in perm]
    if scores is None:
        raise MbpError(f"order {order!r} needs importance scores: compute them first")
    flat = scores.flatten().double().numpy()
    heads = scores.shape[1]
    # stable sort, ties broken by position, so the order is deterministic
    idx = (
        np.argsort(flat, kind="stable") if order != "reverse" else np.argsort(-flat, kind="stable")
    )
    return [(int(i // heads), int(i % heads)) for i in idx]


def n_to_prune(fraction: float, total: int) -> int:
    """How many heads a grid fraction means (rounded half up, so 0.25 of 72 heads is 18)."""
    return int(np.floor(fraction * total + 0.5 + 1e-9))


def heads_at_fraction(
    ranking: list[tuple[int, int]],
    fraction: float,
    *,
    layers: int,
    heads: int,
    floor: int = 0,
    already: dict[int, list[int]] | None = None,
) -> dict[int, list[int]]:
    """The set pruned at `fraction`: walk the ranking, skipping heads the floor protects.

    `already` (for iterative pruning) is kept and counted towards the target.
    """
    check_grid([fraction])
    if not 0 <= floor <= heads:
        raise MbpError(f"per-layer floor {floor} must be between 0 and {heads}: lower --floor")
    target = n_to_prune(fraction, layers * heads)
    chosen = {layer: set(hs) for layer, hs in (already or {}).items()}
    count = sum(len(hs) for hs in chosen.values())
    for layer, head in ranking:
        if count >= target:
            break
        hs = chosen.setdefault(layer, set())
        if head in hs or heads - len(hs) <= floor:
            continue
        hs.add(head)
        count += 1
    return {layer: sorted(hs) for layer, hs in sorted(chosen.items()) if hs}


def layer_targets(layers: int) -> dict[str, list[int]]:
    """Layer-wise pruning targets: each layer, and the bottom / middle / top thirds."""
    targets = {f"layer:{i}": [i] for i in range(layers)}
    for name, part in zip(
        ("bottom", "middle", "top"), np.array_split(np.arange(layers), 3), strict=True
    ):
        targets[f"group:{name}"] = [int(i) for i in part]
    return targets
