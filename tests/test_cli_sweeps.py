"""End-to-end CLI behaviour on a tiny model: resume, idempotence, kill -9, concurrency, shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from mbp.store import ResultsStore
from tests.tiny_project import (
    REPO,
    TINY_SWEEP,
    make_tiny_model_dir,
    make_tiny_sst2,
    mbp_env,
    run_mbp,
)


@pytest.fixture
def project(tmp_path):
    make_tiny_model_dir(tmp_path / "tiny-model")
    make_tiny_sst2(tmp_path / "data")
    return tmp_path, mbp_env(tmp_path)


def _finetune(model: str, env: dict[str, str]) -> None:
    """The tiny fine-tune every sweep of these tests reuses (same settings as TINY_SWEEP)."""
    args = ["finetune", "--model", model, "--task", "sst2", "--train-examples", "32"]
    run_mbp([*args, "--epochs", "1", "--quiet"], env)


def _curves(store_path) -> pd.DataFrame:
    frame = ResultsStore(store_path, read_only=True).curve_points()
    cols = [
        "run_id",
        "order_name",
        "seed",
        "fraction",
        "metric",
        "value",
        "heads_pruned",
        "pruned_heads",
    ]
    return frame[cols].sort_values(cols[:5]).reset_index(drop=True)


def test_sweep_is_idempotent_and_force_recomputes(project):
    tmp, env = project
    args = [
        "sweep",
        "--model",
        str(tmp / "tiny-model"),
        *TINY_SWEEP,
        "--order",
        "importance",
        "random",
        "--seeds",
        "0",
        "1",
    ]
    out = json.loads(run_mbp([*args, "--json"], env).stdout)
    assert {r["order"] for r in out} == {"importance", "random"}
    store = tmp / "store.duckdb"
    first = _curves(store)
    assert len(first) == (5 + 2 * 5) * 1  # one metric (accuracy) per cell for sst2
    counts = ResultsStore(store, read_only=True).counts()
    run_mbp(args, env)  # re-run: nothing new
    assert ResultsStore(store, read_only=True).counts() == counts
    pd.testing.assert_frame_equal(first, _curves(store))
    run_mbp([*args, "--force"], env)  # recompute: same values, no duplicates
    pd.testing.assert_frame_equal(first, _curves(store))
    # every order starts from the same unpruned score and ends at the same fully pruned score
    for fraction in (0.0, 1.0):
        assert first[first.fraction == fraction].value.nunique() == 1


def test_resume_after_kill_9_equals_an_uninterrupted_run(project):
    tmp, env = project
    model = str(tmp / "tiny-model")
    args = [
        "sweep",
        "--model",
        model,
        *TINY_SWEEP,
        "--order",
        "random",
        "--seeds",
        "0",
        "1",
        "2",
        "3",
    ]
    _finetune(model, env)
    reference_env = dict(env, MBP_STORE=str(tmp / "reference.duckdb"))
    run_mbp(args, reference_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbp", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    store = tmp / "store.duckdb"
    while time.time() < deadline:  # kill once some, but not all, cells are in
        if store.exists():
            try:
                done = ResultsStore(store, read_only=True).counts().get("cells", 0)
            except Exception:
                done = 0
            if done >= 3:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = ResultsStore(store, read_only=True).counts().get("cells", 0)
    assert partial > 0  # killed mid-way (or just at the end, which is fine too)
    run_mbp(args, env)
    pd.testing.assert_frame_equal(_curves(tmp / "reference.duckdb"), _curves(store))


def test_four_concurrent_sweeps_and_a_reader_lose_nothing(project):
    tmp, env = project
    model = str(tmp / "tiny-model")
    _finetune(model, env)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mbp", "sweep", "--model", model, *TINY_SWEEP, "--order", "random", "--seeds", str(s)],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for s in range(4)
    ]  # fmt: skip
    reader_errors = []
    while any(p.poll() is None for p in procs):
        try:
            frame = ResultsStore(tmp / "store.duckdb", read_only=True).curve_points()
            per_cell = frame.groupby(["run_id", "seed", "fraction"]).size()
            assert (per_cell == 1).all()
        except FileNotFoundError:
            pass
        except Exception as err:  # a reader must never fail while writers work
            if "does not exist" not in str(err):
                reader_errors.append(repr(err))
        time.sleep(0.1)
    for p in procs:
        assert p.returncode == 0, p.stderr.read()[-2000:]
    assert not reader_errors
    frame = _curves(tmp / "store.duckdb")
    assert len(frame) == 4 * 5 and frame.run_id.nunique() == 4


def test_shards_merged_equal_an_unsharded_run_and_export_round_trips(project):
    tmp, env = project
    model = str(tmp / "tiny-model")
    args = ["sweep", "--model", model, *TINY_SWEEP, "--order", "random", "--seeds", "0", "1"]
    run_mbp(args, env)
    for i in range(3):
        run_mbp([*args, "--shard", f"{i}/3"], dict(env, MBP_STORE=str(tmp / f"shard{i}.duckdb")))
    merged_env = dict(env, MBP_STORE=str(tmp / "merged.duckdb"))
    for i in range(3):
        run_mbp(["import", str(tmp / f"shard{i}.duckdb")], merged_env)
    pd.testing.assert_frame_equal(_curves(tmp / "store.duckdb"), _curves(tmp / "merged.duckdb"))
    run_mbp(["export", "--out", str(tmp / "export")], env)
    manifest = json.loads((tmp / "export" / "manifest.json").read_text())
    assert manifest["runs"] and all(r["command"].startswith("mbp sweep") for r in manifest["runs"])
    round_env = dict(env, MBP_STORE=str(tmp / "round.duckdb"))
    run_mbp(["import", str(tmp / "export")], round_env)
    run_mbp(["import", str(tmp / "export")], round_env)  # twice: no duplicates
    pd.testing.assert_frame_equal(_curves(tmp / "store.duckdb"), _curves(tmp / "round.duckdb"))
