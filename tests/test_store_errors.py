"""Stores mbp must refuse, untouched: newer schema, foreign DuckDB, not DuckDB, read-only.

.venv/bin/python -m pytest tests/test_store_errors.py -q
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mbp.errors import MbpError
from mbp.store import ResultsStore, export_store, import_into, schema


def make_store(path: Path) -> ResultsStore:
    """A store with one run and one cell."""
    store = ResultsStore(path)
    store.ensure_run(
        "run-a",
        "sweep",
        "{}",
        model="e5-small",
        model_checksum="abc",
        task="xnli",
        lang="en",
        split="dev",
        method="random",
        seeds=[0],
        n_examples=10,
        cells_total=1,
        device="cpu",
        versions_json="{}",
        code_commit="c0ffee",
        command="mbp sweep",
    )
    rows = [
        {
            "order_name": "random",
            "seed": 0,
            "fraction": f,
            "heads_pruned": 0,
            "pruned_heads": "[]",
            "metric": "accuracy",
            "value": 0.5,
            "n_examples": 10,
        }
        for f in (0.0, 0.5, 1.0)
    ]
    store.write_cell("run-a", "random/0", elapsed_s=1.0, curve_points=rows)
    return store


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in `directory` (except lock files, which are empty) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix != ".lock"}


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    make_store(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(MbpError) as info:
            ResultsStore(path, read_only=read_only)
        message = str(info.value)
        assert message == (
            f"store {path} was written by a newer mbp (schema 99 > {schema.SCHEMA_VERSION}): "
            "upgrade mbp or use another --store"
        )
        assert "\n" not in message
    with pytest.raises(MbpError, match="newer mbp"):
        import_into(tmp_path / "other.duckdb", path)
    assert not (tmp_path / "other.duckdb").exists()
    assert snapshot(tmp_path) == before


def test_foreign_duckdb_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (id INTEGER, amount DOUBLE)")
    con.execute("INSERT INTO sales VALUES (1, 9.5)")
    con.close()
    before = snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(MbpError) as info:
            ResultsStore(path, read_only=read_only)
        assert str(info.value) == (
            f"{path} is a DuckDB file but not an mbp results store (no mbp meta table; it has "
            "sales): pass another --store (or MBP_STORE) path, or move this file away"
        )
    assert snapshot(tmp_path) == before
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SHOW TABLES").fetchall() == [("sales",)]  # no meta table was created
    con.close()


def test_duckdb_with_someone_elses_meta_table_is_foreign(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('created_by', 'dbt'), ('schema_version', '1')")
    con.close()
    before = snapshot(tmp_path)
    with pytest.raises(MbpError, match=r"not an mbp results store \(meta created_by is 'dbt'"):
        ResultsStore(path)
    assert snapshot(tmp_path) == before


def test_text_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    path.write_text("run_id,value\nrun-a,0.5\n")
    before = snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(MbpError) as info:
            ResultsStore(path, read_only=read_only)
        assert str(info.value) == (
            f"{path} is not a DuckDB file: pass another --store (or MBP_STORE) path, "
            "or move this file away"
        )
    assert snapshot(tmp_path) == before  # no .wal either


def test_directory_as_store_path(tmp_path: Path) -> None:
    with pytest.raises(MbpError, match=r"is a directory: pass a file path such as"):
        ResultsStore(tmp_path)


def test_read_only_store_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    make_store(path)
    before = snapshot(tmp_path)
    store = ResultsStore(path, read_only=True)
    token, counts = store.version_token(), store.counts()
    writes = {
        "ensure_run": lambda: store.ensure_run(
            "run-b",
            "sweep",
            "{}",
            model="m",
            model_checksum=None,
            task="t",
            lang=None,
            split=None,
            method=None,
            seeds=None,
            n_examples=None,
            cells_total=None,
            device=None,
            versions_json=None,
            code_commit=None,
            command=None,
        ),
        "write_cell": lambda: store.write_cell("run-a", "c9", elapsed_s=1.0),
        "finish_run": lambda: store.finish_run("run-a"),
        "delete_run": lambda: store.delete_run("run-a"),
        "reset_run": lambda: store.reset_run("run-a"),
        "record_checkpoint": lambda: store.record_checkpoint(
            "ck",
            model="m",
            task="t",
            spec_json="{}",
            path="p",
            metric=None,
            dev_value=None,
            n_train=None,
        ),
        "import_into": lambda: import_into(store, tmp_path / "results.duckdb"),
    }
    for name, write in writes.items():
        with pytest.raises(MbpError, match=f"store {path} is open read-only") as info:
            write()
        assert "open it without read_only to" in str(info.value), name
    assert (store.version_token(), store.counts()) == (token, counts)
    assert snapshot(tmp_path) == before


def test_read_only_store_never_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "results.duckdb"
    store = ResultsStore(path, read_only=True)
    assert store.counts()["runs"] == 0
    assert store.runs().empty and store.checkpoints().empty
    with pytest.raises(MbpError, match="read-only"):
        store.finish_run("x")
    export_store(store, tmp_path / "export")  # an empty export is fine
    assert not path.parent.exists()


def test_read_only_store_still_reads_and_exports(tmp_path: Path) -> None:
    path = tmp_path / "results.duckdb"
    make_store(path)
    store = ResultsStore(path, read_only=True)
    assert store.finished_cells("run-a") == {"random/0"}
    assert len(store.curve_points(model="e5-small")) == 3
    out = export_store(store, tmp_path / "export")
    assert (out / "manifest.json").is_file()


def test_unknown_sql_and_bad_rows_are_one_line_errors(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results.duckdb")
    with pytest.raises(MbpError) as info:
        store.sql("SELECT nope FROM runs")
    assert str(info.value).startswith("query failed: Binder Error")
    assert "\n" not in str(info.value)
    with pytest.raises(MbpError, match=r"unknown columns \['colour'\]"):
        store.write_cell(
            "run-a",
            "c2",
            elapsed_s=1.0,
            head_importance=[
                {
                    "layer": 0,
                    "head": 0,
                    "score": 1.0,
                    "estimator": "g",
                    "normalization": None,
                    "n_examples": 1,
                    "colour": "red",
                }
            ],
        )
    with pytest.raises(MbpError, match="rows carry run_id 'run-z'"):
        store.write_cell(
            "run-a",
            "c2",
            elapsed_s=1.0,
            head_importance=[
                {
                    "run_id": "run-z",
                    "layer": 0,
                    "head": 0,
                    "score": 1.0,
                    "estimator": "g",
                    "normalization": None,
                    "n_examples": 1,
                }
            ],
        )
    assert store.counts()["cells"] == 1


def test_older_schema_is_migrated_by_a_writable_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.duckdb"
    make_store(path)
    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, "ALTER TABLE runs ADD COLUMN note VARCHAR;")
    before = snapshot(tmp_path)
    with pytest.raises(
        MbpError, match=rf"has schema {current} < {current + 1}: open it once without read-only"
    ):
        ResultsStore(path, read_only=True)
    assert snapshot(tmp_path) == before
    store = ResultsStore(path)
    meta = dict(store.sql("SELECT key, value FROM meta").values.tolist())
    assert meta["schema_version"] == str(current + 1)
    assert "note" in store.sql("SELECT * FROM runs").columns
    assert store.finished_cells("run-a") == {"random/0"}
