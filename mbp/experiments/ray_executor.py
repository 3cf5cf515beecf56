"""The Ray executor (`--executor ray`): a run's cells computed by worker actors on a Ray cluster.

    executor = RayExecutor(RayOptions(address="auto", cpus_per_worker=4, gpus_per_worker=0.5))
    execute(ctx, spec, work, exp, label=..., executor=executor)   # see mbp.experiments.runner

Design (docs/CLUSTER.md):
- Work units are the runner's cells. Each worker is an actor that keeps the run's model loaded
  across every cell it computes, and pulls the next unit when it is done; a chain of cells (the
  iterative order re-scores from the previous cell) goes to one actor in order.
- One writer: workers return rows; only the driver (this process) opens the DuckDB store and
  writes each cell as it arrives, so a killed driver resumes from the store as before.
- No shared filesystem assumed: the model, the data and any fine-tuned reference checkpoint
  travel through Ray's object store (`Work.bundle`); a worker with the same `MBP_CACHE` finds
  the checkpoint there and fetches nothing.
- Faults: a worker process that dies is replaced and its unfinished cells are computed again
  (at most `max_retries` times each); a cell that raises (bad data) fails the run with its own
  one-line error. The run ends with a one-line summary on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from mbp.errors import MbpError
from mbp.experiments.cells import Cell, CellResult, Work
from mbp.experiments.context import LoadedModel
from mbp.experiments.executor import ResultSink

#: How often one cell is given to a fresh worker after the one computing it died.
MAX_RETRIES = 3


@dataclass(frozen=True)
class RayOptions:
    address: str = "local"  # local: start Ray on this machine's cores; auto: join the cluster
    workers: int = 0  # 0: as many as the cluster's resources allow
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = MAX_RETRIES

    def __post_init__(self) -> None:
        if self.cpus_per_worker <= 0:
            raise MbpError(
                f"--cpus-per-worker {self.cpus_per_worker:g} must be above 0: e.g. 1 or 0.5"
            )
        if self.gpus_per_worker < 0:
            raise MbpError(
                f"--gpus-per-worker {self.gpus_per_worker:g} cannot be negative: e.g. 0.25 "
                "(four workers share one GPU) or 0 (CPU workers)"
            )
        if self.workers < 0:
            raise MbpError(f"--workers {self.workers} cannot be negative: 0 = as many as fit")


def connect(address: str) -> None:
    """Join (or start) Ray once per process."""
    if ray.is_initialized():
        return
    quiet = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        if address in ("", "local"):
            ray.init(num_cpus=os.cpu_count(), **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise MbpError(
            f"--ray-address {address!r}: could not reach a Ray cluster ({err}); start one with "
            "`ray start --head` (or use --ray-address local for this machine alone)"
        ) from None


@ray.remote(max_restarts=0, max_task_retries=0)
class CellWorker:
    """Holds one run's `Work` and its loaded model; computes cells on request."""

    def __init__(self) -> None:
        self.work_id = ""
        self.work: Any = None
        self.model_id = ""
        self.loaded: LoadedModel | None = None
        self.root = Path(tempfile.mkdtemp(prefix="mbp-ray-"))

    def setup(self, work_id: str, work_box: list, model_id: str, model_box: list) -> None:
        """Take a run's work (and model) unless this worker holds it already. The boxes hold
        object refs, so nothing is fetched when it is here."""
        if work_id != self.work_id:
            work = ray.get(work_box[0])
            unpack = getattr(work, "unpack", None)
            if unpack is not None:  # files a worker without the driver's disks needs
                unpack(lambda ref: ray.get(ref), self.root / work_id)
            self.work, self.work_id = work, work_id
        if model_id != self.model_id:
            # the driver's model, on the run's device (a worker runs where the driver does)
            self.loaded = ray.get(model_box[0]) if model_box else None
            self.model_id = model_id

    def compute(self, cell: Cell) -> CellResult:
        return self.work.compute(cell, self.loaded)

    def pid(self) -> int:
        return os.getpid()


@ray.remote(max_retries=MAX_RETRIES)
def _finetune_remotely(spec, files_box: list, device: str) -> dict[str, bytes]:
    """A run's fine-tune on a worker: the task's data files arrive through the object store;
    the checkpoint's files go back (a worker sharing MBP_CACHE has written it there too)."""
    from mbp.engine.finetune import finetune
    from mbp.experiments.retrain import write_files

    files = ray.get(files_box[0])
    root = Path(tempfile.mkdtemp(prefix="mbp-ray-finetune-"))
    write_files(files, root)
    ckpt = finetune(spec, data_dir=str(root) if files else None, device=device, progress=False)
    folder = Path(ckpt.path)
    return {str(f.relative_to(folder)): f.read_bytes() for f in folder.rglob("*") if f.is_file()}


def _units(cells: Sequence[Cell]) -> list[list[Cell]]:
    """Independent cells one by one; a chain's cells together, in order."""
    units: list[list[Cell]] = []
    chains: dict[str, list[Cell]] = {}
    for cell in cells:
        if not cell.chain:
            units.append([cell])
        elif cell.chain in chains:
            chains[cell.chain].append(cell)
        else:
            chains[cell.chain] = [cell]
            units.append(chains[cell.chain])
    return units


@dataclass
class RayExecutor:
    """Cells on Ray worker actors; results handed to the driver's `on_result` one by one."""

    options: RayOptions = field(default_factory=RayOptions)
    summary: Counter = field(default_factory=Counter)  # cells, retries, workers_lost, failed
    _workers: list = field(default_factory=list)
    _models: dict[str, Any] = field(default_factory=dict)  # model identity -> object ref

    def worker_count(self, units: int) -> int:
        if self.options.workers:
            return max(1, min(self.options.workers, units))
        resources = ray.cluster_resources()
        fit = int(resources.get("CPU", 1) // self.options.cpus_per_worker)
        if self.options.gpus_per_worker:
            fit = min(fit, int(resources.get("GPU", 0) // self.options.gpus_per_worker))
            if fit < 1:
                raise MbpError(
                    f"--gpus-per-worker {self.options.gpus_per_worker:g}: the Ray cluster has "
                    f"{resources.get('GPU', 0):g} GPU(s): lower it or use --gpus-per-worker 0"
                )
        return max(1, min(fit, units))

    def finetune(self, spec, *, data_dir: str | None, device: str) -> None:
        """Train `spec` on a Ray worker and install the checkpoint into this machine's cache
        (the driver records it in the store as for a local fine-tune)."""
        from mbp.engine.finetune import checkpoint_dir, find_checkpoint
        from mbp.experiments.retrain import write_files
        from mbp.paths import data_dir as resolve_data_dir
        from mbp.tasks.local import task_files

        connect(self.options.address)
        root = resolve_data_dir(data_dir)
        files = (
            {str(f.relative_to(root)): f.read_bytes() for f in task_files(spec.task, Path(root))}
            if root is not None
            else {}
        )
        task = _finetune_remotely.options(
            num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker
        ).remote(spec, [ray.put(files)], device)
        try:
            checkpoint_files = ray.get(task)
        except RayTaskError as err:
            raise _cell_error(Cell(f"fine-tune {spec.key}"), err) from None
        self.summary["finetunes"] += 1
        if find_checkpoint(spec) is not None:  # a shared cache: the worker wrote it here
            return
        target = checkpoint_dir(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
        write_files(checkpoint_files, staging)
        try:
            staging.rename(target)  # complete or absent: never half-written
        except OSError:  # another process installed it meanwhile
            import shutil

            shutil.rmtree(staging, ignore_errors=True)

    def _new_worker(self):
        return CellWorker.options(
            num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker
        ).remote()

    def execute(
        self,
        work: Work,
        cells: Sequence[Cell],
        *,
        load: Callable[[], LoadedModel | None],
        on_result: ResultSink,
    ) -> None:
        if not cells:
            return
        connect(self.options.address)
        loaded = load()
        portable = work.for_worker() if hasattr(work, "for_worker") else work
        if hasattr(portable, "bundle"):  # data files and checkpoints, into the object store once
            portable.bundle_refs = {
                name: ray.put(files) for name, files in portable.bundle().items()
            }
        work_id = uuid.uuid4().hex
        work_box = [ray.put(portable)]
        model_id = loaded.identity if loaded is not None else ""
        if loaded is not None and model_id not in self._models:  # into the object store once
            self._models[model_id] = ray.put(loaded)
        model_box = [self._models[model_id]] if loaded is not None else []

        queue = deque(_units(cells))
        wanted = self.worker_count(len(queue))
        while len(self._workers) < wanted:
            self._workers.append(self._new_worker())
        busy: dict[Any, tuple[int, Cell]] = {}  # result ref -> (worker slot, cell)
        owed: dict[int, list[Cell]] = {}  # worker slot -> its unit's cells not returned yet
        tries: Counter = Counter()

        def start(slot: int) -> None:
            if not queue:
                return
            unit = queue.popleft()
            owed[slot] = list(unit)
            worker = self._workers[slot]
            worker.setup.remote(work_id, work_box, model_id, model_box)  # runs first: in order
            for cell in unit:
                busy[worker.compute.remote(cell)] = (slot, cell)

        for slot in range(wanted):
            start(slot)
        try:
            while busy:
                [ref], _ = ray.wait(list(busy), num_returns=1)
                slot, cell = busy.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError:
                    self._replace(slot, busy, owed, queue, tries)
                    start(slot)
                    continue
                except RayTaskError as err:
                    self.summary["failed"] += 1
                    raise _cell_error(cell, err) from None
                owed[slot].remove(cell)
                on_result(cell, result)
                self.summary["cells"] += 1
                if not owed[slot]:
                    start(slot)
        except BaseException:
            self.shutdown()  # a failed or interrupted run leaves no worker computing
            raise

    def _replace(self, slot, busy, owed, queue, tries) -> None:
        """A worker died: its unfinished cells go back to the front of the queue (once more
        each, up to max_retries) and a fresh worker takes its slot."""
        self.summary["workers_lost"] += 1
        for ref in [r for r, (s, _) in busy.items() if s == slot]:
            del busy[ref]
        unit = owed.pop(slot, [])
        for cell in unit:
            tries[cell.name] += 1
            if tries[cell.name] > self.options.max_retries:
                self.shutdown()
                raise MbpError(
                    f"cell {cell.name!r}: its Ray worker died {tries[cell.name]} times (out of "
                    "memory? a node lost?): check the workers' logs (`ray logs`), then re-run "
                    "to resume"
                )
        if unit:
            self.summary["retries"] += len(unit)
            queue.appendleft(unit)
        ray.kill(self._workers[slot], no_restart=True)
        self._workers[slot] = self._new_worker()

    def shutdown(self) -> None:
        for worker in self._workers:
            ray.kill(worker, no_restart=True)
        self._workers.clear()
        self._models.clear()

    def report(self) -> str:
        s = self.summary
        trained = f"{s['finetunes']} fine-tune(s) and " if s["finetunes"] else ""
        return (
            f"ray: {trained}{s['cells']} cells computed on {self.options.address} Ray; "
            f"{s['retries']} retried after {s['workers_lost']} worker(s) died; {s['failed']} failed"
        )

    def close(self) -> None:
        """End of the command: the one-line summary, the workers released."""
        self.shutdown()
        print(self.report(), file=sys.stderr, flush=True)


def _cell_error(cell: Cell, err: RayTaskError) -> MbpError:
    """A cell that raised for a real reason: the run fails with that reason, in one line."""
    cause = err.cause if getattr(err, "cause", None) is not None else err
    if isinstance(cause, MbpError):
        return MbpError(str(cause))
    first = str(cause).strip().splitlines()[-1] if str(cause).strip() else ""
    return MbpError(
        f"cell {cell.name!r} failed on a Ray worker: {type(cause).__name__}: {first}: fix the "
        "cause and re-run (finished cells are kept)"
    )
