"""`--executor ray` on a local Ray instance (2 CPU workers), on a tiny random BERT.

What must hold: the same cells as the local executor, value for value; a worker SIGKILLed while
it computes a cell is replaced and the cell computed again, stored once; a killed driver
resumes from the store; retrain-protocol cells (fine-tunes) run on the workers, including one
whose cache does not hold the driver's checkpoints (no shared filesystem); a cell that fails
for a real reason fails the run in one line, without retries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from mbp.cli import main  # noqa: E402
from mbp.errors import MbpError  # noqa: E402
from mbp.experiments.ray_executor import RayExecutor, RayOptions  # noqa: E402
from mbp.store import ResultsStore  # noqa: E402
from tests.tiny_project import (  # noqa: E402
    REPO,
    make_tiny_model_dir,
    make_tiny_sst2,
    wait_for_cells,
)

pytestmark = pytest.mark.timeout(900)

RECIPE = ["--train-examples", "48", "--epochs", "1", "--train-batch-size", "8", "--lr", "1e-3"]
RAY = ["--executor", "ray", "--workers", "2"]


@pytest.fixture(name="tiny")
def _tiny(tmp_path, monkeypatch):
    """A tiny model and data; Ray started by the test's own command (so its workers see this
    test's environment) and shut down after it."""
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    model = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    data = make_tiny_sst2(tmp_path / "data", n_dev=400)
    yield str(model), str(data), tmp_path
    ray.shutdown()


def sweep_args(model: str, data: str, store: Path, *extra: str) -> list[str]:
    return [
        "sweep", "--model", model, "--task", "sst2", "--data-dir", data, "--store", str(store),
        "--examples", "300", "--importance-examples", "16", *RECIPE, "--quiet",
        "--grid", "0,0.25,0.5,0.75,1", *extra,
    ]  # fmt: skip


def curves(path: Path) -> pd.DataFrame:
    frame = ResultsStore(path, read_only=True).curve_points()
    cols = ["run_id", "order_name", "seed", "fraction", "metric", "value", "pruned_heads"]
    return frame[cols].sort_values(cols[:5]).reset_index(drop=True)


def test_a_ray_sweep_equals_the_local_sweep_cell_for_cell(tiny, capsys):
    model, data, tmp = tiny
    orders = ("--order", "importance", "random", "iterative", "--seeds", "0,1")
    assert main(sweep_args(model, data, tmp / "local.duckdb", *orders)) == 0
    assert main([*sweep_args(model, data, tmp / "ray.duckdb", *orders), *RAY]) == 0
    err = capsys.readouterr().err
    # 5 importance + 10 random + 5 iterative cells (a chain, on one worker) + 1 importance
    assert "ray: 21 cells computed on local Ray; 0 retried" in err, err
    local, remote = curves(tmp / "local.duckdb"), curves(tmp / "ray.duckdb")
    assert len(local) == 20 and local.equals(remote)
    runs = ResultsStore(tmp / "ray.duckdb", read_only=True).runs()
    assert (runs.status == "done").all() and (runs.cells_done == runs.cells_total).all()


class KillsItsWorkerOnce:
    """A run's work whose worker process SIGKILLs itself while computing `victim` the first
    time (a marker file says it happened): a worker lost mid-cell, deterministically."""

    def __init__(self, work, victim: str, marker: str) -> None:
        self.work, self.victim, self.marker = work, victim, marker
        self.cells = work.cells

    def for_worker(self):
        return KillsItsWorkerOnce(self.work.for_worker(), self.victim, self.marker)

    def compute(self, cell, loaded):
        if cell.name == self.victim and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.work.compute(cell, loaded)


def test_a_worker_killed_mid_cell_is_replaced_and_the_cell_stored_once(tiny, capsys, monkeypatch):
    import mbp.cli
    from tests import test_ray

    ray.cloudpickle.register_pickle_by_value(test_ray)  # workers need not import the tests
    model, data, tmp = tiny
    marker = tmp / "killed"

    class KillOnce(RayExecutor):
        def execute(self, work, cells, **kw):
            super().execute(KillsItsWorkerOnce(work, "random/1/0.5", str(marker)), cells, **kw)

    monkeypatch.setattr(mbp.cli, "executor_from_args", lambda args: KillOnce(RayOptions(workers=2)))
    orders = ("--order", "random", "--seeds", "0,1,2")
    assert main([*sweep_args(model, data, tmp / "ray.duckdb", *orders), *RAY]) == 0
    err = capsys.readouterr().err
    assert marker.exists(), "the victim cell never ran"
    assert "1 retried after 1 worker(s) died; 0 failed" in err, err
    monkeypatch.undo()
    assert main(sweep_args(model, data, tmp / "local.duckdb", *orders)) == 0
    remote, local = curves(tmp / "ray.duckdb"), curves(tmp / "local.duckdb")
    assert remote.equals(local)  # every cell once: no duplicate rows
    stored = ResultsStore(tmp / "ray.duckdb", read_only=True).counts()
    assert stored["cells"] == 15 == len(remote)  # 3 seeds x 5 fractions, once each


def _cli(args: list[str], cache: Path) -> subprocess.Popen:
    env = {**os.environ, "MBP_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mbp", *args], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
def test_a_driver_killed_mid_run_resumes_from_the_store_and_ends_equal(tiny):
    model, data, tmp = tiny
    orders = ("--order", "random", "--seeds", "0,1,2,3,4,5")
    store = tmp / "ray.duckdb"
    proc = _cli([*sweep_args(model, data, store, *orders), *RAY], tmp / "cache")
    wait_for_cells(proc, store, 3, timeout=600)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray instance it started
    proc.wait()
    assert 3 <= ResultsStore(store, read_only=True).counts()["cells"] < 30
    again = _cli([*sweep_args(model, data, store, *orders), *RAY], tmp / "cache")
    assert again.wait(timeout=600) == 0, again.stderr.read().decode()[-2000:]
    assert main(sweep_args(model, data, tmp / "local.duckdb", *orders)) == 0
    assert curves(store).equals(curves(tmp / "local.duckdb"))
    assert (ResultsStore(store, read_only=True).runs().status == "done").all()


def kept_weights(cache: Path) -> dict[tuple, str]:
    import json

    out = {}
    for marker in (cache / "checkpoints").glob("*/mbp_finetune.json"):
        info = json.loads(marker.read_text())
        out[tuple(map(tuple, info["spec"]["pruned_heads"]))] = info["weights_sha256"]
    return out


def test_retrain_cells_fine_tune_on_ray_workers_and_equal_the_local_ones(tiny, capsys, monkeypatch):
    model, data, tmp = tiny
    extra = ("--protocol", "retrain", "--order", "random", "--seeds", "0",
             "--grid", "0,0.5,1", "--keep-checkpoints", "--examples", "40")  # fmt: skip
    assert main([*sweep_args(model, data, tmp / "ray.duckdb", *extra), *RAY]) == 0
    # the unpruned reference is trained on a worker too
    assert "ray: 1 fine-tune(s) and 3 cells computed on local Ray" in capsys.readouterr().err
    on_workers = kept_weights(tmp / "cache")
    assert len(on_workers) == 3  # the reference (driver) and two retrained cells (workers)
    ray.shutdown()
    monkeypatch.setenv("MBP_CACHE", str(tmp / "local-cache"))
    assert main(sweep_args(model, data, tmp / "local.duckdb", *extra)) == 0
    assert curves(tmp / "ray.duckdb").equals(curves(tmp / "local.duckdb"))
    assert kept_weights(tmp / "local-cache") == on_workers  # the same models, bit for bit


def test_the_runs_fine_tune_happens_on_a_worker_not_in_the_driver(tiny, capsys, monkeypatch):
    import mbp.engine.finetune as ft

    model, data, tmp = tiny

    def refuse(*args, **kwargs):
        raise AssertionError("the driver trained a model")

    monkeypatch.setattr(ft, "_finetune", refuse)  # this process only: workers are others
    assert main([*sweep_args(model, data, tmp / "ray.duckdb", "--order", "random"), *RAY]) == 0
    assert "ray: 1 fine-tune(s) and 15 cells computed" in capsys.readouterr().err  # 3 seeds x 5
    (on_worker,) = ResultsStore(tmp / "ray.duckdb").checkpoints()["weights_sha256"]
    ray.shutdown()
    monkeypatch.undo()
    monkeypatch.setenv("MBP_CACHE", str(tmp / "local-cache"))
    assert main(sweep_args(model, data, tmp / "local.duckdb", "--order", "random")) == 0
    (local,) = ResultsStore(tmp / "local.duckdb").checkpoints()["weights_sha256"]
    assert on_worker == local  # the same model, bit for bit
    assert curves(tmp / "ray.duckdb").equals(curves(tmp / "local.duckdb"))


def test_a_worker_without_the_drivers_disks_gets_data_and_reference_through_ray(tiny, monkeypatch):
    """RetrainWork.bundle / unpack: what a worker on another machine receives."""
    from mbp.engine.finetune import find_checkpoint, finetune
    from mbp.experiments.retrain import RetrainWork
    from mbp.models import model_checksum
    from mbp.spec import FinetuneSpec

    model, data, tmp = tiny
    spec = FinetuneSpec(model, model_checksum(model), "sst2", train_examples=16, epochs=1)
    finetune(spec, data_dir=data, device="cpu")
    work = RetrainWork(spec, None, {}, {}, {}, data, "cpu", "fp32", 8)
    files = work.bundle()
    assert sorted(files["data"]) == ["glue/SST-2/dev.tsv", "glue/SST-2/train.tsv"]
    assert "mbp_finetune.json" in files["reference"]

    monkeypatch.setenv("MBP_CACHE", str(tmp / "worker-cache"))  # another machine's cache
    assert find_checkpoint(spec) is None
    shipped = work.for_worker()
    shipped.bundle_refs = {name: name for name in files}  # the "object store": a dict
    shipped.unpack(files.get, tmp / "worker")
    assert (
        Path(shipped.data_dir, "glue/SST-2/train.tsv").read_bytes()
        == Path(data, "glue/SST-2/train.tsv").read_bytes()
    )
    installed = find_checkpoint(spec)
    assert installed is not None and str(installed.path).startswith(str(tmp / "worker-cache"))


class FailsForARealReason:
    def __init__(self, cells) -> None:
        self.cells = cells

    def compute(self, cell, loaded):
        raise MbpError(f"bad data in {cell.name}: line 3 has no label; fix the file")


def test_a_cell_that_fails_for_a_real_reason_fails_the_run_in_one_line_without_retries(tiny):
    from mbp.experiments.cells import Cell
    from tests import test_ray

    ray.cloudpickle.register_pickle_by_value(test_ray)
    cells = [Cell("a"), Cell("b")]
    executor = RayExecutor(RayOptions(workers=2))
    with pytest.raises(MbpError, match=r"^bad data in [ab]: line 3 has no label; fix the file$"):
        executor.execute(
            FailsForARealReason(cells), cells, load=lambda: None, on_result=lambda c, r: None
        )
    assert executor.summary["retries"] == 0 and executor.summary["failed"] == 1
    assert not executor._workers  # released


def test_bad_executor_flags_are_refused_in_one_line(tiny, capsys):
    model, data, tmp = tiny
    cases = {
        ("--executor", "spark"): "unknown executor 'spark': use one of local, ray",
        ("--executor", "ray", "--cpus-per-worker", "0"): "--cpus-per-worker 0 must be above 0",
        ("--executor", "ray", "--gpus-per-worker", "x"): "--gpus-per-worker 'x' is not a number",
        ("--executor", "ray", "--workers", "-1"): "--workers -1 cannot be negative",
    }
    for extra, message in cases.items():
        assert main([*sweep_args(model, data, tmp / "s.duckdb"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    assert not (tmp / "s.duckdb").exists()
