"""Executors: where a run's cells are computed. The runner alone writes their results.

    LocalExecutor().execute(work, todo, load=lambda: loaded, on_result=write)

`local` computes the cells in this process, in order, on one loaded model. The seam for other
executors (a Ray cluster): they receive the same `Work` and cells, and must hand every finished
cell to `on_result` exactly once, in the driver process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

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
