"""Figure 8: the Ray executor's cost per cell, and cells/s with 1 vs 2 workers.

The same sweep (e5-small as it is, XNLI English, random order, 2 seeds x 6 fractions = 12 cells)
is run through the runner with the local executor (all cores, as mbp runs) and with
`--executor ray` on a local Ray instance: one worker holding all cores (the overhead: same
compute, plus Ray), and one vs two workers of one core each (the scaling); repeats
interleaved, each repeat into a fresh store with fresh evaluation caches. Ray's one-time costs
(starting Ray, starting the workers, shipping the model once) are measured apart: they are
paid once per command, not per cell.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.common import DATA_DIR, Row, Section, fmt, interleaved, median, met

CELLS_SEEDS = (0, 1)
GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
EXAMPLES = 48
OVERHEAD_TARGET = 0.05


def ray_executor(repeats: int) -> Section:
    import ray

    from mbp.experiments.context import ModelCache, RunContext
    from mbp.experiments.executor import LocalExecutor
    from mbp.experiments.params import FinetuneParams, RunParams
    from mbp.experiments.ray_executor import RayExecutor, RayOptions
    from mbp.experiments.runner import run_sweep
    from mbp.store import ResultsStore

    params = RunParams(
        "e5-small", "xnli", langs=("en",), examples=EXAMPLES, orders=("random",),
        seeds=CELLS_SEEDS, grid=GRID, finetune=FinetuneParams(enabled=False), device="cpu",
    )  # fmt: skip
    exp = params.experiments()[0]
    cells = len(CELLS_SEEDS) * len(GRID)
    models = ModelCache()  # the local executor's model, loaded once (as Ray ships it once)
    tmp = Path(tempfile.mkdtemp(prefix="mbp-bench-ray-"))
    runs = iter(range(10**6))

    inside: dict[str, list[float]] = {}  # executor -> seconds spent inside cells, per run

    def sweep(executor, label: str = "") -> None:
        store = ResultsStore(tmp / f"{next(runs)}.duckdb")
        ctx = RunContext(
            store=store, data_dir=DATA_DIR, device="cpu", progress=False, models=models,
            executor=executor,
        )  # fmt: skip
        run_sweep(ctx, exp, order="random", seeds=CELLS_SEEDS, grid=GRID)
        spent = store.sql("SELECT sum(elapsed_s) AS s FROM cells")["s"].iloc[0]
        inside.setdefault(label, []).append(float(spent))

    cores = torch.get_num_threads()
    t0 = time.perf_counter()
    # logical CPUs for both pools below; only one computes at a time, on the real cores
    ray.init(num_cpus=2 * cores, include_dashboard=False, log_to_driver=False)
    started_ray = time.perf_counter() - t0
    whole = RayExecutor(RayOptions(workers=1, cpus_per_worker=cores))
    split = RayExecutor(RayOptions(workers=2, cpus_per_worker=1))
    t0 = time.perf_counter()
    sweep(whole)  # starts the worker and ships the model: Ray's one-time costs
    first = time.perf_counter() - t0
    sweep(split)
    sweep(LocalExecutor())  # warm the local path too (model load, tokenised data)

    def split_over(n: int):
        def run() -> None:
            split.options = replace(split.options, workers=n)
            sweep(split)

        return run

    inside.clear()
    times = interleaved(
        {"local": lambda: sweep(LocalExecutor(), "local"), "ray": lambda: sweep(whole, "ray"),
         "one": split_over(1), "two": split_over(2)},
        repeats,
    )  # fmt: skip
    compute_local, compute_ray = median(inside["local"]), median(inside["ray"])
    whole.shutdown()
    split.shutdown()
    ray.shutdown()
    local, ray1, one, two = (median(times[k]) for k in ("local", "ray", "one", "two"))
    # Ray's own cost: wall time not spent inside cells, beyond the local executor's; the cells'
    # compute is measured apart (the store's per-cell times), so compute-speed noise between
    # processes does not pass for overhead (or hide it)
    dispatch_s = (ray1 - compute_ray) - (local - compute_local)
    per_cell_ms = dispatch_s / cells * 1000
    overhead = dispatch_s / compute_local
    scaling = one / two
    rows = [
        Row("8", f"Ray executor: per-cell overhead vs local ({cores} cores each)",
            f"{overhead * 100:+.1f} % of a cell ({per_cell_ms:+.0f} ms/cell dispatch; local cell "
            f"{compute_local / cells * 1000:.0f} ms; wall {ray1:.1f} s vs {local:.1f} s)",
            f"< {OVERHEAD_TARGET * 100:.0f} %", met(overhead < OVERHEAD_TARGET)),
        Row("8", "Ray executor: cells/s, 2 workers vs 1",
            f"{cells / two:.2f} vs {cells / one:.2f} cells/s ({fmt(scaling)}x)",
            note=f"workers of 1 core; {cores} cores: {cores}x is the ceiling"),
        Row("8", "Ray executor: one-time costs per command",
            f"start Ray {started_ray:.1f} s; first sweep {first:.1f} s (workers started, model "
            "shipped once)"),
    ]  # fmt: skip
    details = [
        "### Figure 8: the Ray executor\n\n"
        f"The same {cells}-cell sweep (e5-small as it is, XNLI English, {EXAMPLES} pairs, "
        f"random order, {len(CELLS_SEEDS)} seeds x {len(GRID)} fractions) through the runner: "
        f"the local executor on {cores} threads vs `--executor ray` on a local Ray instance; "
        f"{repeats} interleaved repeats, medians, each repeat into a fresh store with fresh "
        "evaluation caches.\n\n"
        "| executor | median s | cells/s |\n|---|---|---|\n"
        f"| local, {cores} threads | {local:.2f} | {cells / local:.2f} |\n"
        f"| ray, 1 worker of {cores} cores | {ray1:.2f} | {cells / ray1:.2f} |\n"
        f"| ray, 1 worker of 1 core | {one:.2f} | {cells / one:.2f} |\n"
        f"| ray, 2 workers of 1 core | {two:.2f} | {cells / two:.2f} |\n\n"
        f"Where the time goes: the cells' own compute, summed from the store's per-cell "
        f"times, is {compute_local:.2f} s locally and {compute_ray:.2f} s on the Ray worker "
        f"({(compute_ray - compute_local) / cells * 1000:+.0f} ms/cell: the same work in "
        "another process, so this part is machine noise, not Ray); the wall time outside the "
        f"cells, beyond the local executor's, is Ray's own cost: {per_cell_ms:+.0f} ms/cell "
        f"({overhead * 100:+.1f} % of a local cell), for dispatch, shipping the run's work and "
        f"the driver's waiting. One-time costs per command: starting Ray {started_ray:.1f} s; "
        f"the first sweep, which starts the workers and ships the model, took {first:.1f} s. A "
        "cell here is an evaluation of about a second; a retrain cell (a fine-tune of minutes) "
        "makes the same absolute overhead negligible.\n\n"
        + scaling_model(compute_local / cells, per_cell_ms / 1000, first)
    ]
    return Section("ray", rows, details)


def scaling_model(cell_s: float, overhead_s: float, startup_s: float) -> str:
    """Projected time of a sweep on N workers from the measured per-cell figures (labelled)."""
    lines = [
        "**Scaling model (projected, not measured beyond 2 workers):** a run of C cells on N "
        "workers takes about `startup + ceil(C / N) x (t_cell + overhead)`, with the measured "
        f"t_cell = {cell_s * 1000:.0f} ms (this CPU, all cores, e5-small, {EXAMPLES} pairs), "
        f"overhead = {max(overhead_s, 0) * 1000:.0f} ms and startup = {startup_s:.0f} s. "
        "A GPU worker's t_cell is the GPU's per-cell time (figure 7 where a GPU was lent); "
        "for retrain cells t_cell is a fine-tune (minutes, `mbp precompute --status`), so "
        "Ray's overhead vanishes and N workers divide the plan's time by N until the number "
        "of distinct head sets (the units) runs out.\n",
        "| cells | N = 1 | N = 8 | N = 32 |\n|---|---|---|---|",
    ]
    for c in (240, 2400):
        per = cell_s + max(overhead_s, 0)
        t = [startup_s + -(-c // n) * per for n in (1, 8, 32)]
        lines.append(f"| {c} | {t[0]:.0f} s | {t[1]:.0f} s | {t[2]:.0f} s |")
    return "\n".join(lines) + "\n"
