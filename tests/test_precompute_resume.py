"""`mbp precompute` merges the committed export into its store once (fast, fixture store)."""

from __future__ import annotations

from argparse import Namespace

import pytest

from mbp.experiments.precompute import seed_from_export
from mbp.store import ResultsStore, export_store
from tests.fixtures.store_fixture import build_fixture_store


def test_an_export_is_merged_once_and_a_deleted_run_stays_deleted(tmp_path):
    build_fixture_store(tmp_path / "origin.duckdb")
    export_store(ResultsStore(tmp_path / "origin.duckdb", read_only=True), tmp_path / "export")
    args = Namespace(out=str(tmp_path / "export"), store=str(tmp_path / "new.duckdb"))

    added = seed_from_export(args)  # a new machine: everything comes from the export
    store = ResultsStore(tmp_path / "new.duckdb")
    assert added is not None and store.counts() == ResultsStore(tmp_path / "origin.duckdb").counts()

    victim = store.runs().run_id.iloc[0]
    store.delete_run(victim)
    assert seed_from_export(args) is None  # taken before: not merged again
    assert victim not in set(store.runs().run_id)  # so a re-run recomputes it

    export_store(store, tmp_path / "export")  # this store's own export
    store.delete_run(store.runs().run_id.iloc[0])
    before = store.counts()
    assert seed_from_export(args) is None and store.counts() == before


def test_no_export_means_nothing_to_merge(tmp_path):
    args = Namespace(out=str(tmp_path / "missing"), store=str(tmp_path / "s.duckdb"))
    assert seed_from_export(args) is None


def _write(store: ResultsStore, value: float, *run_ids: str) -> ResultsStore:
    """One done run per id, one cell with one curve point at `value`."""
    for run_id in run_ids:
        store.ensure_run(
            run_id, "sweep", {"run": run_id}, model="minilm-l6", model_checksum=None, task="sst2",
            lang="en", split="dev", method="importance", seeds=[0], n_examples=4, cells_total=1,
            device="cpu", versions_json=None, code_commit=None, command="mbp sweep",
        )  # fmt: skip
        point = {"order_name": "importance", "seed": 0, "fraction": 0.0, "heads_pruned": 0,
                 "pruned_heads": "[]", "metric": "accuracy", "value": value, "n_examples": 4}  # fmt: skip
        store.write_cell(run_id, "c0", elapsed_s=0.1, curve_points=[point])
        store.finish_run(run_id, "done")
    return store


def _values(store: ResultsStore) -> dict[str, float]:
    frame = store.sql("SELECT run_id, value FROM curve_points ORDER BY run_id")
    return dict(zip(frame["run_id"], frame["value"], strict=True))


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "seeded-before-records"])
def test_a_newer_version_of_the_export_replaces_its_runs_and_keeps_the_stores_own(
    tmp_path, recorded
):
    export = tmp_path / "export"
    export_store(_write(ResultsStore(tmp_path / "v1.duckdb"), 0.6, "r1"), export)
    args = Namespace(out=str(export), store=str(tmp_path / "machine.duckdb"))
    assert seed_from_export(args)["runs"] == 1
    store = _write(ResultsStore(tmp_path / "machine.duckdb"), 0.5, "mine")  # not in the export
    if not recorded:  # a store filled before stores recorded the export's version
        with store.write_transaction("forget the version") as txn:
            txn.con.execute("DELETE FROM meta WHERE starts_with(key, 'imported_export:')")
    # the export's next version (as `mbp precompute --adopt` writes it: another store_id)
    export_store(_write(ResultsStore(tmp_path / "v2.duckdb"), 0.9, "r1", "r2"), export)

    added = seed_from_export(args)

    assert added is not None and added["replaced"] == 1
    assert _values(store) == {"mine": 0.5, "r1": 0.9, "r2": 0.9}
    assert seed_from_export(args) is None  # taken: not merged again


def test_a_store_that_never_took_the_export_merges_it_keeping_its_rows(tmp_path):
    export_store(_write(ResultsStore(tmp_path / "other.duckdb"), 0.9, "r1", "r2"), tmp_path / "x")
    store = _write(ResultsStore(tmp_path / "machine.duckdb"), 0.6, "r1")
    args = Namespace(out=str(tmp_path / "x"), store=str(store.path))

    added = seed_from_export(args)

    assert added is not None and "replaced" not in added and added["runs"] == 1
    assert _values(store) == {"r1": 0.6, "r2": 0.9}
