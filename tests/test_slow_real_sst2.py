"""Integration on the real minilm-l6 and real SST-2 (slow; CI runs it).

One fine-tune (3,000 training sentences, 2 epochs) is shared by the tests through a
session-scoped cache, then the CLI runs end to end: finetune -> sweep -> runs -> export.
"""

from __future__ import annotations

import json

import pytest

from mbp.models import is_available
from mbp.store import ResultsStore
from tests.tiny_project import run_mbp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_available("minilm-l6"), reason="minilm-l6 is not installed"),
]
FINETUNE = ["--train-examples", "3000", "--epochs", "2", "--lr", "5e-5", "--device", "cpu"]


@pytest.fixture(scope="module")
def real_env(tmp_path_factory, shared_data_dir):
    import os

    tmp = tmp_path_factory.mktemp("real")
    env = dict(os.environ, MBP_CACHE=str(tmp / "cache"), MBP_DATA_DIR=str(shared_data_dir))
    env["MBP_STORE"] = str(tmp / "store.duckdb")
    return tmp, env


@pytest.fixture(scope="module")
def finetuned(real_env):
    _, env = real_env
    out = run_mbp(
        ["finetune", "--model", "minilm-l6", "--task", "sst2", *FINETUNE, "--json", "--quiet"],
        env,
        timeout=1800,
    )
    return json.loads(out.stdout)[0]


def test_finetuned_minilm_reaches_80_percent_on_sst2_dev(finetuned):
    assert finetuned["dev_split"] == "dev"
    assert finetuned["accuracy"] >= 0.80, finetuned


def test_cli_end_to_end_and_importance_beats_random_at_30_percent(real_env, finetuned):
    tmp, env = real_env
    sweep = [
        "sweep",
        "--model",
        "minilm-l6",
        "--task",
        "sst2",
        "--examples",
        "872",
        "--grid",
        "0,0.3,0.6",
    ]
    sweep += ["--order", "importance", "random", "--seeds", "0", "1", "2", "--quiet", "--json"]
    out = json.loads(run_mbp([*sweep, *FINETUNE], env, timeout=1800).stdout)
    assert {r["order"] for r in out} == {"importance", "random"}

    curves = ResultsStore(tmp / "store.duckdb", read_only=True).curve_points(metric="accuracy")
    at30 = curves[curves.fraction == 0.3]
    importance = at30[at30.order_name == "importance"].value.item()
    random_mean = at30[at30.order_name == "random"].value.mean()
    assert at30[at30.order_name == "random"].seed.nunique() == 3
    assert importance > random_mean, (importance, random_mean)
    unpruned = curves[curves.fraction == 0.0].value
    assert unpruned.nunique() == 1 and unpruned.iloc[0] == pytest.approx(
        finetuned["accuracy"], abs=0.02
    )

    runs = json.loads(run_mbp(["runs", "--json"], env).stdout)
    assert {r["kind"] for r in runs} == {"importance", "sweep"}
    assert all(r["status"] == "done" for r in runs)
    run_mbp(["export", "--out", str(tmp / "export")], env)
    manifest = json.loads((tmp / "export" / "manifest.json").read_text())
    assert len(manifest["runs"]) == 3
    assert (tmp / "export" / "curve_points.parquet").exists()
