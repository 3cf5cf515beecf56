"""A run as a list of cells, and what computing one cell means for each kind of run.

A `Cell` is one unit of work stored under (run key, cell id): one grid point x seed of a sweep,
one layer target, one importance computation. A `Work` knows a run's cells and how to compute
one of them on a loaded model; an executor (mbp.experiments.executor) decides where that
happens and hands each `CellResult` back, and only the runner writes it to the store.

    work = SweepWork(...); for cell in work.cells: result = work.compute(cell, loaded)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mbp.experiments.context import EvalCache, LoadedModel
from mbp.store.outcomes import UNPRUNED

HeadSet = dict[int, list[int]]  # layer -> heads removed


@dataclass(frozen=True)
class Cell:
    """One unit of work. `chain` names cells that must run in order in one process (the
    iterative order re-scores from the previous cell's head set); "" = independent."""

    name: str  # the store's cell id: "random/0/0.3", "layer:2", "group:top", "importance"
    heads: HeadSet | None = None  # heads removed; None when computed on the model (iterative)
    chain: str = ""


@dataclass(frozen=True)
class Write:
    """Rows for one stored cell of one run."""

    run_id: str
    cell_id: str
    tables: dict[str, list[dict]]
    elapsed_s: float


@dataclass
class CellResult:
    """A finished cell's rows, per store table, and its own compute time. A unit of work that
    fills cells of several runs (a retrained model evaluated on every language) lists them in
    `writes` instead."""

    tables: dict[str, list[dict]]
    elapsed_s: float
    payload: Any = None  # e.g. the HeadImportance of an importance cell
    writes: list[Write] = field(default_factory=list)


class Work(Protocol):
    """A run's cells and how to compute one (what an executor needs). A Work may also offer
    `for_worker()` (a copy to ship to another process) and `bundle()` / `unpack(fetch, root)`
    (files a worker on another machine needs; see mbp.experiments.ray_executor)."""

    cells: list[Cell]

    def compute(self, cell: Cell, loaded: LoadedModel) -> CellResult: ...


@dataclass
class Evaluator:
    """Metrics of a model with a head set structurally removed, memoised per (model, data,
    head set); layers below the first changed one come from one unpruned pass, or from the last
    evaluated head set when that agrees on more layers (PrefixCache.descend)."""

    task: Any  # TaskInfo
    encoded: Any  # Encoded
    data_key: str
    device: Any  # torch.device
    precision: str
    batch_size: int
    cache: EvalCache = field(default_factory=EvalCache)
    # (model identity, data key) -> the states of the last evaluated head set (PrefixCache)
    _recent: dict = field(default_factory=dict, init=False, repr=False)

    def detached(self) -> Evaluator:
        """The same evaluator with an empty cache of its own (to ship to a worker)."""
        return replace(self, cache=EvalCache())

    def predictions(self, loaded: LoadedModel, heads: HeadSet):
        """Predictions (class ids, or regression outputs) of the model with `heads` removed,
        in the examples' order; memoised per (model, data, head set)."""
        from mbp.engine.evaluate import predict, predictions_from_logits
        from mbp.engine.prefix import PrefixCache
        from mbp.engine.prune import describe_heads, prune_heads

        key = (loaded.identity, self.data_key, describe_heads(heads))
        if key in self.cache.predictions:
            return self.cache.predictions[key]
        prefix_key = (loaded.identity, self.data_key)
        if prefix_key not in self.cache.prefixes:
            self.cache.prefixes[prefix_key] = PrefixCache.build(
                loaded.model,
                self.encoded,
                pad_id=loaded.pad_id,
                batch_size=self.batch_size,
                device=self.device,
                precision=self.precision,
            )
        prefix = self.cache.prefixes[prefix_key]
        pruned = prune_heads(loaded.model, heads) if heads else loaded.model
        if prefix is not None:
            # start from the unpruned states or the last evaluated head set's, whichever
            # agrees with `heads` on more layers (nested sweeps: only the new heads' layers on)
            bases = [prefix, self._recent.get(prefix_key, prefix)]
            base = max(bases, key=lambda b: b.first_difference(heads))
            self._recent[prefix_key] = base.descend(pruned, heads)
            logits = self._recent[prefix_key].base_logits
        else:
            logits = predict(pruned, self.encoded, pad_id=loaded.pad_id,
                             batch_size=self.batch_size, device=self.device,
                             precision=self.precision)  # fmt: skip
        preds = predictions_from_logits(logits, self.task.labels is None)
        self.cache.predictions[key] = preds
        return preds

    def metrics(self, loaded: LoadedModel, heads: HeadSet) -> dict[str, float]:
        """The task's metrics of the model with `heads` removed."""
        import numpy as np

        from mbp.tasks import compute_metrics

        preds = self.predictions(loaded, heads)
        return compute_metrics(self.task, preds, np.asarray(self.encoded.labels))

    def outcome(self, model_key: str, loaded: LoadedModel, heads: HeadSet) -> dict:
        """The `outcomes` row of the model with `heads` removed (mbp.store.outcomes)."""
        from mbp.store.outcomes import outcome_row

        return outcome_row(model_key, self.predictions(loaded, heads), self.encoded.labels,
                           self.task.labels is None)  # fmt: skip


# ------------------------------------------------------------------------------ importance


@dataclass
class ImportanceWork:
    """One cell: every head's importance on held-out examples."""

    encoded: Any
    regression: bool
    estimator: str
    normalize: bool
    seed: int
    batch_size: int
    device: Any
    precision: str = "fp32"  # resolved (fp32 | bf16 | fp16): the run's, as its key says
    cells: list[Cell] = field(default_factory=lambda: [Cell("importance")])

    def scores(self, loaded: LoadedModel, removed: HeadSet | None = None):
        """HeadImportance of every head without the `removed` ones (iterative order).

        Unnormalised scores of the remaining heads are taken on the structurally pruned model
        (the same function, without the removed heads' attention work; removed heads score 0).
        A per-layer norm includes the removed heads' gradients, so with `normalize` they are
        gated off instead and keep theirs."""
        from mbp.engine.gate import gate_from_heads
        from mbp.engine.importance import head_importance
        from mbp.engine.layout import model_shape
        from mbp.engine.prune import prune_heads

        model, base_gate = loaded.model, None
        if removed and self.normalize:
            base_gate = gate_from_heads(removed, *model_shape(loaded.model))
        elif removed:
            model = prune_heads(loaded.model, removed)
        return head_importance(
            model,
            self.encoded,
            regression=self.regression,
            pad_id=loaded.pad_id,
            estimator=self.estimator,
            normalize=self.normalize,
            seed=self.seed,
            batch_size=min(self.batch_size, 32),
            device=self.device,
            precision=self.precision,
            base_gate=base_gate,
        )

    def compute(self, cell: Cell, loaded: LoadedModel) -> CellResult:
        started = time.perf_counter()
        result = self.scores(loaded)
        layers, heads = result.scores.shape
        rows = [
            {
                "layer": layer,
                "head": head,
                "score": float(result.scores[layer, head]),
                "estimator": result.estimator,
                "normalization": result.normalization,
                "n_examples": result.n_examples,
            }
            for layer in range(layers)
            for head in range(heads)
        ]
        return CellResult({"head_importance": rows}, time.perf_counter() - started, result)


def iterative_rescorer(
    work: ImportanceWork,
) -> Callable[[LoadedModel, HeadSet], list[tuple[int, int]]]:
    """The iterative order's re-scoring: a ranking of the heads (least important first) with the
    `removed` ones gated off, scored as `work` scores the unpruned model."""
    from mbp.engine.orders import prune_order

    def rescore(loaded: LoadedModel, removed: HeadSet) -> list[tuple[int, int]]:
        return prune_order(work.scores(loaded, removed=removed).scores, "importance")

    return rescore


# ------------------------------------------------------------------------------ sweeps


def sweep_cell_name(order: str, seed: int, fraction: float) -> str:
    return f"{order}/{seed}/{fraction:g}"


def sweep_cells(
    order: str,
    seeds: tuple[int, ...],
    grid: tuple[float, ...],
    floor: int,
    shape: tuple[int, int],
    scores: Any,
) -> list[Cell]:
    """A sweep's cells: one per (seed, grid point), with the heads each removes (the iterative
    order's come from re-scoring, so its cells form one chain per seed)."""
    from mbp.engine.orders import heads_at_fraction, prune_order

    layers, heads = shape
    cells = []
    for seed in seeds:
        if order == "iterative":
            chain = f"iterative/{seed}"
            cells += [Cell(sweep_cell_name(order, seed, f), None, chain) for f in grid]
            continue
        ranking = prune_order(scores, order, seed=seed, shape=shape)
        for fraction in grid:
            removed = heads_at_fraction(ranking, fraction, layers=layers, heads=heads, floor=floor)
            cells.append(Cell(sweep_cell_name(order, seed, fraction), removed))
    return cells


def layer_cells(targets: dict[str, list[int]], heads: int) -> list[Cell]:
    """Layer-wise cells: every head of each target's layers removed."""
    return [
        Cell(name, {layer: list(range(heads)) for layer in layers})
        for name, layers in targets.items()
    ]


@dataclass
class SweepWork:
    """Metric vs pruned fraction for one order: one cell per (seed, grid point)."""

    order: str
    seeds: tuple[int, ...]
    grid: tuple[float, ...]
    floor: int
    shape: tuple[int, int]  # (layers, heads)
    scores: Any  # (layers, heads) importance scores, or None (random order)
    evaluator: Evaluator
    n_examples: int
    cost: Any = None  # mbp.engine.cost.PointCost: each point's parameters and FLOPs
    # iterative order: re-scores the remaining heads given the removed ones -> a new ranking
    rescore: Callable[[LoadedModel, HeadSet], list[tuple[int, int]]] | None = None
    cells: list[Cell] = field(init=False)
    _chains: dict[str, tuple[int, HeadSet]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.cells = sweep_cells(
            self.order, self.seeds, self.grid, self.floor, self.shape, self.scores
        )

    def for_worker(self) -> SweepWork:
        """A copy to ship to another process: its own empty caches."""
        return replace(self, evaluator=self.evaluator.detached())

    def _iterative_heads(self, cell: Cell, loaded: LoadedModel) -> HeadSet:
        """Walk the chain up to `cell` (re-scoring after each step, as the order defines),
        from where this process last left it."""
        from mbp.engine.orders import heads_at_fraction, prune_order
        from mbp.engine.prune import describe_heads

        layers, heads = self.shape
        chain = [c for c in self.cells if c.chain == cell.chain]
        target = chain.index(cell)
        position, removed = self._chains.get(cell.chain, (-1, {}))
        if position > target:  # asked again for an earlier cell: start the chain over
            position, removed = -1, {}
        ranking = prune_order(self.scores, "importance", shape=self.shape)
        scored_for = describe_heads({})  # the head set `ranking` was scored without
        for step in range(position + 1, target + 1):
            if removed and describe_heads(removed) != scored_for:  # else: the same scores again
                ranking, scored_for = self.rescore(loaded, removed), describe_heads(removed)
            fraction = self.grid[step]
            removed = heads_at_fraction(
                ranking, fraction, layers=layers, heads=heads, floor=self.floor, already=removed
            )
            self._chains[cell.chain] = (step, removed)
        return self._chains[cell.chain][1]

    def compute(self, cell: Cell, loaded: LoadedModel) -> CellResult:
        from mbp.engine.prune import describe_heads

        removed = cell.heads if cell.heads is not None else self._iterative_heads(cell, loaded)
        t0 = time.perf_counter()  # a cell's own time is its evaluation (not the re-scoring)
        metrics = self.evaluator.metrics(loaded, removed)
        order, seed, fraction = cell.name.split("/")
        count = sum(len(h) for h in removed.values())
        costs = self.cost.of(removed) if self.cost is not None else {}
        rows = [
            {
                "order_name": order,
                "seed": int(seed),
                "fraction": float(fraction),
                "heads_pruned": count,
                "pruned_heads": describe_heads(removed),
                "metric": name,
                "value": float(value),
                "n_examples": self.n_examples,
                **costs,
            }
            for name, value in metrics.items()
        ]
        outcome = self.evaluator.outcome(cell.name, loaded, removed)
        return CellResult({"curve_points": rows, "outcomes": [outcome]}, time.perf_counter() - t0)


# ------------------------------------------------------------------------------ layer-wise


@dataclass
class LayersWork:
    """The metric drop when all heads of one layer (or a bottom/middle/top third) go."""

    targets: dict[str, list[int]]  # cell id -> layers
    heads: int
    evaluator: Evaluator
    cells: list[Cell] = field(init=False)

    def __post_init__(self) -> None:
        self.cells = layer_cells(self.targets, self.heads)

    def for_worker(self) -> LayersWork:
        """A copy to ship to another process: its own empty caches."""
        return replace(self, evaluator=self.evaluator.detached())

    def compute(self, cell: Cell, loaded: LoadedModel) -> CellResult:
        base = self.evaluator.metrics(loaded, {})
        t0 = time.perf_counter()
        metrics = self.evaluator.metrics(loaded, cell.heads or {})
        rows = [
            {
                "target": cell.name,
                "layers": json.dumps(self.targets[cell.name]),
                "metric": name,
                "base_value": float(base[name]),
                "value": float(value),
                "drop": float(base[name] - value),
            }
            for name, value in metrics.items()
        ]
        outcomes = [self.evaluator.outcome(UNPRUNED, loaded, {}),
                    self.evaluator.outcome(cell.name, loaded, cell.heads or {})]  # fmt: skip
        return CellResult({"layer_importance": rows, "outcomes": outcomes},
                          time.perf_counter() - t0)  # fmt: skip
