"""`mbp precompute` (the smoke plan, real minilm-l6 + SST-2): resumable, reproducible, exported."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from mbp.models import is_available
from mbp.store import ResultsStore
from tests.tiny_project import run_mbp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_available("minilm-l6"), reason="minilm-l6 is not installed"),
]


def _curves(path) -> pd.DataFrame:
    frame = ResultsStore(path, read_only=True).curve_points()
    keys = ["run_id", "order_name", "seed", "fraction", "metric"]
    return frame[[*keys, "value"]].sort_values(keys).reset_index(drop=True)


def test_precompute_resumes_reproduces_and_exports(tmp_path, shared_data_dir):
    env = dict(os.environ, MBP_CACHE=str(tmp_path / "cache"), MBP_DATA_DIR=str(shared_data_dir))
    store = tmp_path / "store.duckdb"
    args = [
        "precompute",
        "--plan",
        "smoke",
        "--store",
        str(store),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    run_mbp(args, env, timeout=1800)
    first = _curves(store)
    counts = ResultsStore(store, read_only=True).counts()
    assert len(first) > 0 and counts["layer_importance"] > 0

    run_mbp(args, env, timeout=1800)  # a finished store: nothing new
    assert ResultsStore(store, read_only=True).counts() == counts

    writable = ResultsStore(store)
    victim = writable.runs(kind="sweep", method="random").run_id.iloc[0]
    writable.delete_run(victim)
    # the store took this export already, so the run is recomputed (not imported): same numbers
    run_mbp(args, env, timeout=1800)
    assert ResultsStore(store, read_only=True).counts() == counts
    pd.testing.assert_frame_equal(first, _curves(store))

    # Another machine (empty store, empty cache) resumes from the export: it computes nothing,
    # so it does not even fine-tune.
    other_env = dict(env, MBP_CACHE=str(tmp_path / "other-cache"))
    other = tmp_path / "other.duckdb"
    resumed = [str(other) if a == str(store) else a for a in args]
    run_mbp(resumed, other_env, timeout=1800)
    assert ResultsStore(other, read_only=True).counts() == counts
    pd.testing.assert_frame_equal(first, _curves(other))
    assert not (tmp_path / "other-cache" / "checkpoints").exists()

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["plan_commands"][0].startswith("mbp sweep --model minilm-l6")
    assert {m["model"] for m in manifest["models"]} >= {"minilm-l6"}
    for run in manifest["runs"]:
        assert run["command"].startswith("mbp ") and run["model_checksum"]
        files = {f["path"]: f["sha256"] for f in manifest["run_data_files"][run["run_id"]]}
        assert "glue/SST-2/train.tsv" in files  # fine-tuning (and GLUE importance) data
        assert all(len(digest) == 64 for digest in files.values())
    evaluated = [files for run_id, files in manifest["run_data_files"].items()]
    assert any(f["path"] == "glue/SST-2/dev.tsv" for files in evaluated for f in files)
