"""`mbp precompute --backfill-outcomes`: outcomes recomputed for runs that lack them are the
rows the run would have stored, only after every stored metric is matched (tiny model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mbp.errors import MbpError
from mbp.experiments.backfill import backfill_runs, wants_backfill
from mbp.store import ResultsStore
from tests.tiny_project import TINY_FINETUNE, TINY_SWEEP, run_mbp


@pytest.fixture(scope="module")
def made(outcomes_project, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(model folder, store, env): the session's outcomes store (a posthoc sweep of importance +
    random and a layer-wise run; conftest) copied, and a retrain sweep added to the copy, each
    stored with its outcomes as new runs are."""
    project, project_env = outcomes_project
    path = tmp_path_factory.mktemp("backfill") / "store.duckdb"
    shutil.copyfile(project / "store.duckdb", path)
    env = {**project_env, "MBP_STORE": str(path)}
    run_mbp(["sweep", "--model", str(project / "tiny-model"), "--task", "sst2", "--examples",
             "40", "--protocol", "retrain", "--order", "random", "--seeds", "0", "--grid", "0,0.5",
             *TINY_FINETUNE], env)  # fmt: skip
    return project / "tiny-model", path, env


@pytest.fixture
def store(made, tmp_path, monkeypatch):
    """A copy of the made store, and this process pointed at the made cache and data."""
    _, path, env = made
    for name in ("MBP_CACHE", "MBP_DATA_DIR", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, env[name])
    shutil.copyfile(path, tmp_path / "store.duckdb")
    return ResultsStore(tmp_path / "store.duckdb")


def _outcomes(store: ResultsStore) -> pd.DataFrame:
    return store.sql("SELECT * FROM outcomes ORDER BY run_id, model_key")


def _forget_outcomes(store: ResultsStore) -> None:
    with store.write_transaction("forget outcomes") as txn:
        txn.con.execute("DELETE FROM outcomes")


def test_deleted_outcomes_come_back_identical_and_nothing_else_changes(store):
    before, cells = _outcomes(store), store.sql("SELECT * FROM cells ORDER BY run_id, cell_id")
    assert set(store.runs()["protocol"]) == {"posthoc", "retrain"} and len(before) > 20
    _forget_outcomes(store)
    runs = store.runs()
    assert (
        backfill_runs(store, runs, data_dir=None) == 4
    )  # 2 sweeps, layers, retrain: importance runs have none
    pd.testing.assert_frame_equal(_outcomes(store), before)
    pd.testing.assert_frame_equal(store.sql("SELECT * FROM cells ORDER BY run_id, cell_id"), cells)
    assert backfill_runs(store, store.runs()) == 0  # resumable: runs with outcomes are skipped


def test_a_run_missing_some_outcomes_gets_only_those(store):
    before = _outcomes(store)
    with store.write_transaction("forget one") as txn:
        txn.con.execute("DELETE FROM outcomes WHERE model_key = 'random/1/0.5'")
    assert backfill_runs(store, store.runs()) == 1
    pd.testing.assert_frame_equal(_outcomes(store), before)


@pytest.mark.parametrize("protocol", ["posthoc", "retrain"])
def test_a_stored_metric_that_is_not_reproduced_stops_and_writes_nothing(store, protocol):
    _forget_outcomes(store)
    run_id = store.sql(
        "SELECT run_id FROM runs WHERE kind = 'sweep' AND method = 'random' AND protocol = ?",
        [protocol],
    )["run_id"].iloc[0]
    with store.write_transaction("corrupt") as txn:
        txn.con.execute(
            "UPDATE curve_points SET value = value + 0.025 WHERE run_id = ? AND fraction = 0.5 "
            "AND seed = 0 AND metric = 'accuracy'",
            [run_id],
        )
    with pytest.raises(MbpError, match=rf"run {run_id} cell random/0/0\.5: accuracy recomputed "
                       r"as .* but stored as .*: no outcomes written for this run"):  # fmt: skip
        backfill_runs(store, store.runs(run_id=run_id))
    assert store.outcomes(run_ids=[run_id]).empty


def test_the_option_is_one_flag_of_precompute():
    from mbp.cli import build_parser

    assert wants_backfill(build_parser().parse_args(["precompute", "--backfill-outcomes"]))
    assert not wants_backfill(build_parser().parse_args(["precompute"]))


def test_precompute_backfills_a_plan_step_and_status_counts_its_outcomes(made, store, capsys):
    from argparse import Namespace

    from mbp.experiments.plan import Step
    from mbp.experiments.precompute import backfill, print_status

    model = str(made[0])
    step = Step(
        "tiny-sweep",
        ("sweep", "--model", model, *TINY_SWEEP, "--order", "importance", "random",
         "--seeds", "0", "1"),
        tuple(("sweep", model, "sst2", "en", o) for o in ("importance", "random")),
    )  # fmt: skip
    args = Namespace(store=str(store.path), data_dir=None, quiet=True, out="nowhere", fresh=True)
    _forget_outcomes(store)
    print_status(args, [step])
    assert " 0/2 " in capsys.readouterr().out
    assert backfill(args, [step]) == 2  # the step's two sweeps, not the other runs
    print_status(args, [step])
    assert " 2/2 " in capsys.readouterr().out
    assert backfill(args, [step]) == 0
