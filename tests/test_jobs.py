"""Live-run jobs: child processes with a log, exit status, cancel, time limit and progress."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from mbp.live.jobs import (
    Job,
    JobRegistry,
    clean_log,
    mark_interrupted_runs,
    tiny_model_command,
    tqdm_progress,
)
from mbp.store import ResultsStore

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def registry(tmp_path):
    return JobRegistry(tmp_path / "jobs", grace_s=2.0)


def test_a_trivial_child_runs_to_done_with_its_output_in_the_log(registry):
    job = registry.launch([PY, "-c", "import sys; print('hello'); print('oops', file=sys.stderr)"],
                          meta={"what": "test"})  # fmt: skip
    assert job.status == "running" and job.pid
    finished = registry.wait(job.job_id, timeout=60)
    assert finished.status == "done" and finished.returncode == 0
    tail = registry.log_tail(job.job_id)
    assert "hello" in tail and "oops" in tail  # stdout and stderr both in the log
    assert tail.splitlines()[0].startswith("$ ")  # the command heads the log
    assert finished.elapsed_s > 0 and finished.meta == {"what": "test"}
    saved = json.loads((registry.root / job.job_id / "job.json").read_text())
    assert saved["status"] == "done"


def test_a_failing_child_is_failed_with_its_exit_code(registry):
    job = registry.launch([PY, "-c", "raise SystemExit(3)"])
    finished = registry.wait(job.job_id, timeout=60)
    assert finished.status == "failed" and finished.returncode == 3


def test_cancel_terminates_the_whole_process_group(registry, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); print('started', flush=True); "
        "time.sleep(60)"
    )
    job = registry.launch([PY, "-c", script])
    deadline = time.time() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.time() < deadline, registry.log_tail(job.job_id)
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    cancelled = registry.cancel(job.job_id)
    assert cancelled.status == "cancelled"
    assert cancelled.returncode is not None and cancelled.returncode != 0
    deadline = time.time() + 10
    while _alive(grandchild) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)  # the child's own child died with the group
    assert "[cancelled from the dashboard]" in registry.log_tail(job.job_id)
    assert registry.active() == []


def test_wall_time_limit_stops_the_job(registry):
    job = registry.launch([PY, "-c", "import time; time.sleep(60)"], wall_time_s=0.5)
    finished = registry.wait(job.job_id, timeout=30)
    assert finished.status == "timed out"
    assert "wall-time limit" in registry.log_tail(job.job_id)


def test_chained_commands_stop_at_the_first_failure(registry):
    ok = registry.launch([[PY, "-c", "print('step one')"], [PY, "-c", "print('step two')"]])
    assert registry.wait(ok.job_id, timeout=60).status == "done"
    assert "step one" in registry.log_tail(ok.job_id) and "step two" in registry.log_tail(ok.job_id)
    bad = registry.launch([[PY, "-c", "raise SystemExit(1)"], [PY, "-c", "print('never')"]])
    assert registry.wait(bad.job_id, timeout=60).status == "failed"
    output = registry.log_tail(bad.job_id).splitlines()[1:]  # after the "$ command" line
    assert not any("never" in line for line in output)


def test_a_new_registry_finds_jobs_on_disk(registry):
    job = registry.launch([PY, "-c", "print(1)"])
    registry.wait(job.job_id, timeout=60)
    again = JobRegistry(registry.root)  # e.g. after a server restart
    found = again.get(job.job_id)
    assert found is not None and found.status == "done"
    assert [j.job_id for j in again.jobs()] == [job.job_id]
    assert again.get("no-such-job") is None and again.get("../etc") is None


def test_a_running_job_of_a_dead_server_is_lost(registry):
    job = Job(
        "20200101-000000-abcdef", ["x"], str(registry.root / "x.log"), time.time(), pid=2**22 + 7
    )
    (registry.root / job.job_id).mkdir()
    (registry.root / job.job_id / "job.json").write_text(job.to_json())
    assert JobRegistry(registry.root).get(job.job_id).status == "lost"


def test_progress_from_a_tqdm_log(registry):
    script = (
        "import sys, time\n"
        "for i in range(1, 4):\n"
        "    sys.stderr.write(f'\\re5-small xnli/en importance:  {i*33}%|###  | {i}/3 [00:0{i}<00:01]')\n"
        "    sys.stderr.flush()\n"
    )
    job = registry.launch([PY, "-c", script])
    registry.wait(job.job_id, timeout=60)
    assert registry.progress_from_log(job.job_id) == {"e5-small xnli/en importance": (3, 3)}


def test_clean_log_and_tqdm_parsing():
    text = "start\nbar:  10%|#  | 1/10\rbar:  50%|##### | 5/10\rbar: 100%|##########| 10/10\ndone\n"
    assert clean_log(text).splitlines() == ["start", "bar: 100%|##########| 10/10", "done"]
    assert tqdm_progress(text) == {"bar": (10, 10)}
    assert tqdm_progress("no bars here") == {}


def test_stopping_a_job_marks_exactly_its_own_runs(tmp_path):
    """Two jobs on the same model, task and orders: cancelling one marks only the runs tagged
    with its id, as cancelled; a failed job's runs become failed."""
    store = ResultsStore(tmp_path / "s.duckdb")
    common = dict(model="m", method="random", model_checksum=None, task="sst2", lang="en",
                  split="dev", seeds=[0], n_examples=10, cells_total=3, device="cpu",
                  versions_json=None, code_commit=None, command=None)  # fmt: skip
    for run_id in ("r1", "r2", "r3"):
        store.ensure_run(run_id, "sweep", "{}", **common)
    store.tag_job("r1", "job-a")
    store.tag_job("r1", "job-a")  # once
    store.tag_job("r2", "job-b")
    store.tag_job("r3", "job-c")
    store.finish_run("r3", "done")
    a = Job("job-a", ["x"], "log", time.time() - 5, status="cancelled")
    assert mark_interrupted_runs(store, a, "cancelled from the dashboard") == ["r1"]
    b = Job("job-b", ["x"], "log", time.time() - 5, status="failed")
    assert mark_interrupted_runs(store, b, "live run failed") == ["r2"]
    c = Job("job-c", ["x"], "log", time.time() - 5, status="cancelled")
    assert mark_interrupted_runs(store, c, "late cancel") == []  # a finished run stays done
    runs = store.runs().set_index("run_id")
    assert runs.loc["r1", "status"] == "cancelled"
    assert runs.loc["r1", "error"] == "cancelled from the dashboard"
    assert runs.loc["r2", "status"] == "failed" and runs.loc["r3", "status"] == "done"
    assert store.job_runs("job-a")["run_id"].tolist() == ["r1"]


def test_tiny_model_command_writes_a_loadable_encoder(tmp_path, registry):
    folder = tmp_path / "tiny-bert"
    job = registry.launch(tiny_model_command(folder, PY))
    assert registry.wait(job.job_id, timeout=180).status == "done", registry.log_tail(job.job_id)
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    from mbp.models import load_model

    model, _tokenizer = load_model(str(folder), num_labels=3)  # any head size: encoder only
    assert model.config.num_labels == 3 and model.config.num_hidden_layers == 2


def test_a_run_command_tags_its_runs_with_the_job_id(tmp_path, monkeypatch):
    from mbp.cli import main
    from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2

    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model = str(make_tiny_model_dir(tmp_path / "tiny"))
    data = str(make_tiny_sst2(tmp_path / "data"))
    store = tmp_path / "s.duckdb"
    args = ["sweep", "--model", model, "--task", "sst2", "--data-dir", data, "--store",
            str(store), "--examples", "16", "--train-examples", "32", "--epochs", "1",
            "--importance-examples", "8", "--order", "importance", "random", "--seeds", "0",
            "--grid", "0,1", "--quiet"]  # fmt: skip
    assert main([*args, "--job-id", "job-1"]) == 0
    tagged = ResultsStore(store).job_runs("job-1")
    assert sorted(tagged["kind"]) == ["importance", "sweep", "sweep"]
    assert main([*args, "--job-id", "job-2"]) == 0  # the same runs, found again by job-2
    assert len(ResultsStore(store).job_runs("job-2")) == 3
    assert ResultsStore(store).job_runs("job-3").empty
