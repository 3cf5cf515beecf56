"""Executors: where a run's cells are computed. The runner alone writes their results.

    LocalExecutor().execute(work, todo, load=lambda: loaded, on_result=write)

`local` computes the cells in this process, in order, on one loaded model; `ray`
(mbp.experiments.ray_executor) on worker actors of a Ray cluster. Every executor receives the
same `Work` and cells, and hands every finished cell to `on_result` exactly once, in the driver
process (the only one that writes the store).

    executor = make_executor("ray", address="auto", cpus_per_worker=4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from mbp.errors import MbpError
from mbp.experiments.cells import Cell, CellResult, Work
from mbp.experiments.context import LoadedModel

ResultSink = Callable[[Cell, CellResult], None]


class Executor(Protocol):
    def execute(
        self,
        work: Work,
        cells: Sequence[Cell],
        *,
        load: Callable[[], LoadedModel],
        on_result: ResultSink,
    ) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Cells in this process, in the run's order, on a model loaded once (only if any cell is
    left to compute)."""

    def execute(
        self,
        work: Work,
        cells: Sequence[Cell],
        *,
        load: Callable[[], LoadedModel],
        on_result: ResultSink,
    ) -> None:
        if not cells:
            return
        loaded = load()
        for cell in cells:
            on_result(cell, work.compute(cell, loaded))

    def close(self) -> None:
        pass


EXECUTORS = ("local", "ray")


def make_executor(
    name: str = "local",
    *,
    address: str = "local",
    workers: int = 0,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
) -> Executor:
    """The executor a command asked for (Ray is imported only when asked for)."""
    if name == "local":
        return LocalExecutor()
    if name != "ray":
        raise MbpError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
    try:
        from mbp.experiments.ray_executor import RayExecutor, RayOptions
    except ImportError:
        raise MbpError(
            "--executor ray needs the `ray` package: pip install -r requirements.txt"
        ) from None
    return RayExecutor(RayOptions(address, workers, cpus_per_worker, gpus_per_worker))
