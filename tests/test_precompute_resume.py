"""`mbp precompute` merges the committed export into its store once (fast, fixture store)."""

from __future__ import annotations

from argparse import Namespace

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
