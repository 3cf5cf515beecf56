"""Figures 1 and 2: sweep throughput of mbp's default path vs the anchor-style baseline, and the
useful-FLOP rate of mbp's sweep against the machine's dense matmul rate, all in the same run.

mbp's path is the runner's own `Evaluator` (structural `prune_heads`, SDPA, length-sorted
per-batch padding, batch 64, identical head sets memoised across orders); the baseline is
`bench.baseline.anchor_sweep` (pad to 128, eager, full width x mask, batch 32, every cell run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from bench.baseline import anchor_sweep
from bench.common import (
    eager_twin,
    forward_flops,
    interleaved,
    kept_heads,
    lengths,
    matmul_gflops,
    median,
    pad_holder,
    pass_speedups,
    speedup,
)
from mbp.engine.importance import head_importance
from mbp.engine.layout import model_shape
from mbp.engine.orders import heads_at_fraction, prune_order
from mbp.engine.prune import describe_heads, prune_heads

GRID: tuple[float, ...] = (0.0, 0.5, 0.9)
ORDERS: tuple[str, ...] = ("importance", "random")
MBP_BATCH = 64


@dataclass
class SweepResult:
    label: str
    n_examples: int
    n_cells: int
    n_distinct: int
    mbp_s: list[float]
    base_s: list[float]
    matmul_gflops: list[float]
    useful_flops: float  # one mbp sweep: distinct evaluations, real tokens, kept heads
    mbp_executed_flops: float  # what mbp runs (per-batch padding, kept heads)
    base_executed_flops: float  # what the baseline runs (128 tokens, all heads, every cell)
    acc_max_diff: float
    mean_length: float
    mean_padded_length: float
    cells: list = field(default_factory=list)
    profile: Profile | None = None
    prune_s: float = 0.0  # prune_heads time for one sweep's distinct cells
    threads: dict[str, list[float]] = field(default_factory=dict)  # all cores vs 1 thread
    scale_ratio: float = 0.0  # executed-FLOP ratio of the same grid at 500 pairs per language
    ffn_share: float = 0.0  # FFN share of the linear FLOPs per token
    pruned_share: float = 0.0  # mean over cells of linear FLOPs / unpruned

    @property
    def mbp_rate(self) -> float:
        """Example-evaluations (examples x grid cells) per second."""
        return self.n_examples * self.n_cells / median(self.mbp_s)

    @property
    def base_rate(self) -> float:
        return self.n_examples * self.n_cells / median(self.base_s)

    @property
    def ratio(self) -> float:
        return speedup(self.base_s, self.mbp_s)

    @property
    def pass_ratios(self) -> list[float]:
        return pass_speedups(self.base_s, self.mbp_s)

    @property
    def flop_ratio(self) -> float:
        """The speed-up the executed FLOP counts alone would give."""
        return self.base_executed_flops / self.mbp_executed_flops

    @property
    def peak(self) -> float:
        return median(self.matmul_gflops) * 1e9

    @property
    def limit_fraction(self) -> float:
        return self.useful_flops / median(self.mbp_s) / self.peak


def importance_ranking(model, encoded, pad_id: int, device: str = "cpu") -> list[tuple[int, int]]:
    """mbp's gradient importance on held-out pairs, least important first."""
    scores = head_importance(
        model,
        encoded,
        regression=False,
        pad_id=pad_id,
        estimator="gradient",
        batch_size=32,
        device=device,
    )
    return prune_order(scores.scores, "importance")


def grid_cells(model, ranking, grid=GRID, orders=ORDERS) -> list[dict[int, list[int]]]:
    """The head set removed at every (order, fraction) cell, in sweep order."""
    layers, heads = model_shape(model)
    cells = []
    for order in orders:
        rank = (
            ranking if order == "importance" else prune_order(None, "random", shape=(layers, heads))
        )
        for fraction in grid:
            cells.append(heads_at_fraction(rank, fraction, layers=layers, heads=heads))
    return cells


def sweep_context(batch_size: int = MBP_BATCH, device: str = "cpu", precision: str = "auto"):
    """The runner's context without a store: its memo of evaluated head sets and prefix states."""
    from mbp.experiments.context import RunContext

    return RunContext(
        store=None, device=device, precision=precision, batch_size=batch_size, progress=False
    )


def mbp_sweep(
    model,
    encoded,
    pad_id: int,
    cells,
    *,
    batch_size: int = MBP_BATCH,
    device: str = "cpu",
    precision: str = "auto",
    ctx=None,
) -> list[float]:
    """Accuracy at every cell through the runner's memoised, structurally pruned evaluation
    (a fresh memo per call unless `ctx` is given)."""
    from mbp.experiments.cells import Evaluator
    from mbp.experiments.context import LoadedModel
    from mbp.tasks import get_task

    ctx = ctx or sweep_context(batch_size=batch_size, device=device, precision=precision)
    evaluator = Evaluator(
        task=get_task("xnli"),
        encoded=encoded,
        data_key="bench",
        device=ctx.torch_device,
        precision=ctx.precision,
        batch_size=ctx.batch_size,
        cache=ctx.evals,
    )
    loaded = LoadedModel(model, pad_holder(pad_id), "", f"bench:{id(model)}")
    return [evaluator.metrics(loaded, heads)["accuracy"] for heads in cells]


def _first_difference(a: dict[int, list[int]], b: dict[int, list[int]], layers: int) -> int:
    return next((i for i in range(layers) if set(a.get(i, ())) != set(b.get(i, ()))), layers)


def sweep_flops(config, seq_lengths, unique) -> float:
    """FLOPs of one mbp sweep over sequences of these lengths: one unpruned pass (the 0 % cell;
    `PrefixCache` keeps its per-layer states), then every other distinct cell from its first
    layer that differs from the unpruned model or from the previous cell, whichever is later
    (`Evaluator`: the layers below are reused, not recomputed)."""
    layers = config.num_hidden_layers
    full = [config.num_attention_heads] * layers
    total = forward_flops(config, seq_lengths, full)
    previous: dict[int, list[int]] = {}
    for heads in unique:
        if heads:
            kept = kept_heads(config, heads)
            first = max(min(heads), _first_difference(heads, previous, layers))
            total += forward_flops(config, seq_lengths, kept, first_layer=first)
            previous = heads
    return total


def padded_lengths(seq_lengths: np.ndarray, batch_size: int) -> np.ndarray:
    """Each example's width under mbp's batching: sorted by length, cut where that saves
    padding (`least_padding_bounds`), each batch padded to its longest."""
    from itertools import pairwise

    from mbp.engine.batching import least_padding_bounds

    order = np.argsort(-seq_lengths, kind="stable")
    out = np.empty_like(seq_lengths)
    for start, stop in pairwise(least_padding_bounds(seq_lengths[order], batch_size)):
        index = order[start:stop]
        out[index] = seq_lengths[index].max()
    return out


def distinct(cells) -> list[dict[int, list[int]]]:
    seen: dict[str, dict[int, list[int]]] = {}
    for heads in cells:
        seen.setdefault(describe_heads(heads), heads)
    return list(seen.values())


def compare(
    label: str,
    model,
    encoded,
    pad_id: int,
    ranking,
    *,
    repeats: int,
    grid=GRID,
    orders=ORDERS,
    profile: bool = False,
    threads: bool = False,
    baseline: bool = True,
) -> SweepResult:
    """Interleaved passes of both sweeps (A B / B A ...), a matmul rate sample before each.
    baseline=False times mbp's path alone (figure 2 on a sweep of realistic size: figure 1 must
    stay small because the baseline pads every pair to 128 tokens)."""
    config = model.config
    cells = grid_cells(model, ranking, grid, orders)
    unique = distinct(cells)
    seq = lengths(encoded)
    padded = padded_lengths(seq, MBP_BATCH)
    accs: dict[str, list[float]] = {}
    rates: list[float] = []

    def run_mbp():
        accs["mbp"] = mbp_sweep(model, encoded, pad_id, cells)

    fns = {"mbp": run_mbp}
    if baseline:
        twin = eager_twin(model)

        def run_base():
            accs["base"] = anchor_sweep(twin, encoded, pad_id, cells)

        fns["base"] = run_base
    times = interleaved(fns, repeats, before=lambda: rates.append(matmul_gflops()))
    full = [config.num_attention_heads] * config.num_hidden_layers
    result = SweepResult(
        label=label,
        n_examples=len(seq),
        n_cells=len(cells),
        n_distinct=len(unique),
        mbp_s=times["mbp"],
        base_s=times.get("base", []),
        matmul_gflops=rates,
        useful_flops=sweep_flops(config, seq, unique),
        mbp_executed_flops=sweep_flops(config, padded, unique),
        base_executed_flops=len(cells) * forward_flops(config, np.full(len(seq), 128), full)
        if baseline
        else 0.0,
        acc_max_diff=float(np.max(np.abs(np.subtract(accs["mbp"], accs["base"]))))
        if baseline
        else float("nan"),
        mean_length=float(seq.mean()),
        mean_padded_length=float(padded.mean()),
    )
    result.cells = cells
    result.prune_s = prune_seconds(model, unique)
    if profile:
        result.profile = profile_mbp(model, encoded, pad_id, cells)
    if threads:
        result.threads = thread_check(model, encoded, pad_id, repeats)
    return result


def prune_seconds(model, unique) -> float:
    """Seconds `prune_heads` takes for one sweep's distinct non-empty head sets (part of mbp's
    sweep time: the runner builds a pruned copy per cell)."""
    t0 = time.perf_counter()
    for heads in unique:
        if heads:
            prune_heads(model, heads)
    return time.perf_counter() - t0


def thread_check(model, encoded, pad_id: int, repeats: int) -> dict[str, list[float]]:
    """mbp's unpruned evaluation with all cores vs one thread, interleaved: on a shared VM
    every multi-threaded op waits for all its threads to be scheduled."""
    from mbp.engine.evaluate import predict

    cores = torch.get_num_threads()

    def with_threads(n: int):
        def fn():
            torch.set_num_threads(n)
            try:
                predict(model, encoded, pad_id=pad_id, batch_size=MBP_BATCH)
            finally:
                torch.set_num_threads(cores)

        return fn

    return interleaved(
        {f"{cores} threads": with_threads(cores), "1 thread": with_threads(1)}, repeats
    )


GEMM_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm")


@dataclass
class Profile:
    top: list[tuple[str, float]]  # (op, % of self CPU time), most expensive first
    gemm_share: float  # fraction of self CPU time in GEMM kernels
    gemm_seconds: float
    total_seconds: float
    gemm_flops: float  # linear-layer FLOPs executed in the profiled run

    @property
    def gemm_rate(self) -> float:
        return self.gemm_flops / self.gemm_seconds if self.gemm_seconds else 0.0


def op_profile(fn, gemm_flops: float, top: int = 8) -> Profile:
    """torch.profiler (CPU) around fn(): self CPU time per op."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS)
    return Profile(
        top=[(e.key, 100 * e.self_cpu_time_total / total) for e in ranked],
        gemm_share=gemm / total,
        gemm_seconds=gemm / 1e6,
        total_seconds=total / 1e6,
        gemm_flops=gemm_flops,
    )


def profile_mbp(model, encoded, pad_id: int, cells) -> Profile:
    """One mbp evaluation at the middle of the importance curve, profiled (its unpruned prefix
    pass runs first, unprofiled, as it does once per sweep)."""
    cell = cells[len(cells) // 4]
    padded = padded_lengths(lengths(encoded), MBP_BATCH)
    kept = kept_heads(model.config, cell)
    first = min(cell) if cell else 0
    flops = forward_flops(model.config, padded, kept, attention=False, first_layer=first)
    ctx = sweep_context()
    mbp_sweep(model, encoded, pad_id, [{}], ctx=ctx)
    return op_profile(lambda: mbp_sweep(model, encoded, pad_id, [cell], ctx=ctx), flops)


def dense_rate_note() -> str:
    return (
        f"dense fp32 matmul: torch.matmul of 2048x2048 on {torch.get_num_threads()} threads, "
        "one sample before every sweep pass (median)"
    )
