"""Several processes on one store: concurrent writers + a polling reader, and kill -9 mid-write.

The writers and the reader are separate Python processes (`python -c`), as sweeps and the
dashboard are. Every cell writes 5 curve rows in its transaction, so a reader must see 0 or 5 rows
per cell, never a part, and `runs.cells_done` must always equal the cells present.

    .venv/bin/python -m pytest tests/test_store_concurrency.py -q
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import filelock

from mbp.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
WRITERS = 4
# Each write opens DuckDB (~20-40 ms), so 4 x 40 keeps the suite fast; set
# MBP_STORE_STRESS_CELLS=200 (or more) for a heavier run.
CELLS_PER_WRITER = int(os.environ.get("MBP_STORE_STRESS_CELLS", "40"))
POINTS_PER_CELL = 5

# argv: store path, run id, cell prefix, number of cells (-1: until killed)
WRITER = """
import sys
from mbp.store import ResultsStore
path, run_id, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = ResultsStore(path)
store.ensure_run(run_id, "sweep", "{}", model="m", model_checksum=None, task="xnli", lang="en",
                 split="dev", method="random", seeds=[0], n_examples=10, cells_total=None,
                 device="cpu", versions_json=None, code_commit=None, command="test")
done = store.finished_cells(run_id)
i = 0
while n < 0 or i < n:
    cell = f"{prefix}-{i}"
    i += 1
    if cell in done:
        continue
    rows = [dict(order_name=cell, seed=0, fraction=f / 4, heads_pruned=f, pruned_heads="[]",
                 metric="accuracy", value=0.5, n_examples=10) for f in range(5)]
    assert store.write_cell(run_id, cell, elapsed_s=0.0, curve_points=rows), cell
"""

# One snapshot: cells with a partial set of points, points without a cell, wrong cells_done.
CONSISTENCY = f"""
SELECT
  (SELECT count(*) FROM (
     SELECT count(p.order_name) AS n FROM cells c LEFT JOIN curve_points p
       ON p.run_id = c.run_id AND p.order_name = c.cell_id GROUP BY c.run_id, c.cell_id)
   WHERE n <> {POINTS_PER_CELL}) AS partial_cells,
  (SELECT count(*) FROM curve_points p WHERE NOT EXISTS (
     SELECT 1 FROM cells c WHERE c.run_id = p.run_id AND c.cell_id = p.order_name)) AS orphans,
  (SELECT count(*) FROM runs r
   WHERE r.cells_done <> (SELECT count(*) FROM cells c WHERE c.run_id = r.run_id)) AS bad_done,
  (SELECT count(*) FROM cells) AS cells
"""

# argv: store path, stop file. Polls (like a dashboard, a little slower than the writers) until
# the stop file exists; prints a JSON summary, or the first inconsistency and exits 1.
READER = f"""
import json, os, sys, time
from mbp.store import ResultsStore
store = ResultsStore(sys.argv[1], read_only=True)
polls, last, tokens = 0, -1, set()
while True:
    stop = os.path.exists(sys.argv[2])
    row = store.sql({CONSISTENCY!r}).iloc[0].to_dict()
    tokens.add(store.version_token())
    polls += 1
    if row["partial_cells"] or row["orphans"] or row["bad_done"] or row["cells"] < last:
        print(json.dumps({{"error": {{k: int(v) for k, v in row.items()}}}}))
        sys.exit(1)
    last = int(row["cells"])
    if stop:
        break
    time.sleep(0.1)
counts = store.counts()
print(json.dumps({{"polls": polls, "tokens": len(tokens), "cells": last, "counts": counts}}))
"""


def python(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def consistency(store: ResultsStore) -> dict[str, int]:
    return {k: int(v) for k, v in store.sql(CONSISTENCY).iloc[0].to_dict().items()}


def test_writers_and_a_reader_share_the_store(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    stop = tmp_path / "stop"
    store = ResultsStore(path)
    assert python(WRITER, path, "run-0", "setup", 0).wait(60) == 0  # create the store and a run
    reader = python(READER, path, stop)
    writers = [
        python(WRITER, path, f"run-{w % 2}", f"w{w}", CELLS_PER_WRITER) for w in range(WRITERS)
    ]
    try:
        for writer in writers:
            _, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, out + err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["polls"] > 5 and summary["tokens"] > 2  # it really read while they wrote

    total = WRITERS * CELLS_PER_WRITER
    counts = store.counts()
    assert counts["cells"] == total
    assert counts["curve_points"] == total * POINTS_PER_CELL
    assert consistency(store) == {"partial_cells": 0, "orphans": 0, "bad_done": 0, "cells": total}
    runs = store.runs().set_index("run_id")
    assert runs.loc["run-0", "cells_done"] == runs.loc["run-1", "cells_done"] == total // 2
    meta = dict(store.sql("SELECT key, value FROM meta").values.tolist())
    assert int(meta["write_count"]) >= total + WRITERS  # every write bumped the token


def _wait_until_locked_by_other(lock_path: Path, rng: random.Random) -> None:
    """Return as soon as another process holds `lock_path` (after a random delay)."""
    time.sleep(rng.uniform(0.0, 0.1))
    probe = filelock.FileLock(str(lock_path), timeout=0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            probe.acquire()
        except filelock.Timeout:
            return
        probe.release()
        time.sleep(0.001)
    raise AssertionError("the writer never took the lock")


def test_kill_9_mid_write_loses_at_most_the_cell_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    store = ResultsStore(path)
    rng = random.Random()
    seen = 0
    for round_ in range(3):
        writer = python(WRITER, path, "run-k", "k", -1)
        deadline = time.monotonic() + 60
        while store.counts()["cells"] < seen + 3:  # let it get going
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        if round_ % 2:  # any moment
            time.sleep(rng.uniform(0.0, 0.25))
        else:  # a random moment while it holds the lock, i.e. inside a write
            _wait_until_locked_by_other(Path(f"{path}.lock"), rng)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        assert writer.returncode == -signal.SIGKILL

        # The store opens fine, read-only (a left-over WAL is replayed) and writable.
        check = consistency(ResultsStore(path, read_only=True))
        assert check["partial_cells"] == check["orphans"] == check["bad_done"] == 0, (round_, check)
        assert check["cells"] >= seen + 3
        seen = check["cells"]
        reopened = ResultsStore(path)
        assert reopened.runs(run_id="run-k").iloc[0]["cells_done"] == seen
        assert reopened.counts()["curve_points"] == POINTS_PER_CELL * seen

    # And it can be written again: the next cell lands complete.
    rows = [
        {
            "order_name": "after",
            "seed": 0,
            "fraction": f / 4,
            "heads_pruned": f,
            "pruned_heads": "[]",
            "metric": "accuracy",
            "value": 0.5,
            "n_examples": 10,
        }
        for f in range(POINTS_PER_CELL)
    ]
    assert store.write_cell("run-k", "after", elapsed_s=0.0, curve_points=rows)
    assert consistency(store)["cells"] == seen + 1


def test_threads_in_one_process_share_the_store(tmp_path: Path) -> None:
    """Streamlit serves sessions from threads: separate store objects on one file, at once."""
    path = tmp_path / "results.duckdb"
    ResultsStore(path).ensure_run(
        "run-t",
        "sweep",
        "{}",
        model="m",
        model_checksum=None,
        task="xnli",
        lang="en",
        split="dev",
        method="random",
        seeds=[0],
        n_examples=10,
        cells_total=None,
        device="cpu",
        versions_json=None,
        code_commit=None,
        command="test",
    )
    errors: list[BaseException] = []

    def work(prefix: str) -> None:
        store = ResultsStore(path)
        try:
            for i in range(6):
                rows = [
                    {
                        "order_name": f"{prefix}-{i}",
                        "seed": 0,
                        "fraction": f / 4,
                        "heads_pruned": f,
                        "pruned_heads": "[]",
                        "metric": "accuracy",
                        "value": 0.5,
                        "n_examples": 10,
                    }
                    for f in range(POINTS_PER_CELL)
                ]
                store.write_cell("run-t", f"{prefix}-{i}", elapsed_s=0.0, curve_points=rows)
                store.counts()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = ResultsStore(path, read_only=True)
    assert consistency(store) == {"partial_cells": 0, "orphans": 0, "bad_done": 0, "cells": 18}
