"""Moving results between stores: Parquet exports (`mbp export`) and merging them (`mbp import`).

An export is a directory with one Parquet file per table (`runs.parquet`, `cells.parquet`, ...)
and `manifest.json` (schema version, export time, row counts, each run's provenance). It is
written under a temporary name and renamed, so a half export never exists. Importing merges
exports, shard stores (`--shard`) or `.duckdb` files into a store in ONE transaction: rows whose
key is already there are skipped, so importing twice adds nothing. `replace=True` (`mbp import
DIR --replace`) lets the export's version win instead: the store's runs and checkpoints with the
export's ids are deleted first, in the same transaction; the store's other runs stay.

The store remembers which version of an export it holds: after an import that leaves every run of
an export directory as the export has it (a replace, or none of its runs were there before), the
`meta` row `imported_export:<absolute path>` holds the export's identity (`export_identity`:
manifest.json's sha256 and exported_at). The dashboard compares it with precomputed/'s.

    python -c "from mbp.store import *; export_store(ResultsStore('a.duckdb'), 'out')"
    python -c "from mbp.store import *; print(import_into(ResultsStore('b.duckdb'), 'out'))"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mbp import __version__
from mbp.errors import MbpError
from mbp.provenance import portable_command
from mbp.store.results_store import ResultsStore, delete_run_in
from mbp.store.rows import insert_frame
from mbp.store.schema import (
    ADDED_COLUMNS,
    ADDED_TABLES,
    COLUMNS,
    KEYS,
    RUN_TABLES,
    SCHEMA_VERSION,
    TABLES,
    quote,
)

MANIFEST = "manifest.json"
RECORD_PREFIX = "imported_export:"  # + the export's absolute path: the meta key of its identity
FORMAT = "mbp-store-export"
EXPORT_MANIFEST_KEYS = (
    "format",
    "schema_version",
    "exported_at",
    "mbp_version",
    "source_store",
    "store_id",
    "counts",
    "runs",
)
_PROVENANCE = (
    "run_id",
    "kind",
    "command",
    "model",
    "model_checksum",
    "task",
    "lang",
    "split",
    "method",
    "protocol",
    "n_examples",
    "seeds",
    "device",
    "versions",
    "code_commit",
    "status",
)


def _as_store(store: ResultsStore | str | os.PathLike[str], *, read_only: bool) -> ResultsStore:
    return store if isinstance(store, ResultsStore) else ResultsStore(store, read_only=read_only)


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def export_store(
    store: ResultsStore | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    manifest_extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write every table of `store` as Parquet plus `manifest.json` into `out_dir`, atomically.

    `manifest_extra` (e.g. `{"data_sha256": {...}}`) is merged into the manifest's top level.
    An earlier export at `out_dir` is replaced; any other non-empty `out_dir` is an MbpError
    unless `overwrite=True`.
    """
    store = _as_store(store, read_only=True)
    out = Path(out_dir).expanduser()
    extra = dict(manifest_extra or {})
    clash = sorted(set(extra) & set(EXPORT_MANIFEST_KEYS))
    if clash:
        raise MbpError(
            f"manifest_extra key {clash[0]!r} is reserved: rename it (reserved: {list(EXPORT_MANIFEST_KEYS)})"
        )
    if out.exists() and not overwrite and not _replaceable(out):
        raise MbpError(
            f"export directory {out} already exists and is not an earlier mbp export: pass "
            "another directory or delete it first"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.export-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with store.read_transaction() as con:  # one snapshot for every table
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            counts = {}
            for table in TABLES:
                keys = ", ".join(quote(k) for k in KEYS[table])
                arrow = con.sql(f"SELECT * FROM {table} ORDER BY {keys}").to_arrow_table()
                if table == "runs":  # an export is shared: no paths of this machine in it
                    commands = [
                        None if c is None else portable_command(c)
                        for c in arrow.column("command").to_pylist()
                    ]
                    index = arrow.schema.get_field_index("command")
                    arrow = arrow.set_column(index, "command", pa.array(commands, pa.string()))
                pq.write_table(arrow, tmp / f"{table}.parquet")
                counts[table] = arrow.num_rows
            cursor = con.execute("SELECT * FROM runs ORDER BY created_at, run_id")
            names = [d[0] for d in cursor.description]
            runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mbp_version": __version__,
            "source_store": store.path.name,  # the file name only: no machine-local path
            "store_id": meta.get("store_id"),
            "counts": counts,
            "runs": [_provenance(run) for run in runs],
            **extra,
        }
        text = json.dumps(manifest, indent=2, default=str, allow_nan=False)
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replaceable(out: Path) -> bool:
    """An empty directory, or an earlier export (replaced whole, atomically)."""
    if not out.is_dir():
        return False
    if not any(out.iterdir()):
        return True
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def _provenance(run: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry of one run: what ran, on what, with which code."""
    run = {k: (None if isinstance(v, float) and v != v else v) for k, v in run.items()}  # NaN
    run["seeds"] = _loads(run.get("seeds"))
    run["versions"] = _loads(run.get("versions_json"))
    run["command"] = portable_command(run.get("command") or "")
    return {k: run.get(k) for k in _PROVENANCE}


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename the finished export into place (replacing an old one only after it is done)."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
        os.replace(tmp, out)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(tmp, out)


# -- import -------------------------------------------------------------------------------------


@dataclass
class _Export:
    """One validated export: its tables as Arrow tables, ready to insert."""

    source: Path
    tables: dict[str, pa.Table]
    identity: dict[str, Any] | None = None  # None: a shard's .duckdb snapshot (not recorded)


def _identity(raw: bytes, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "manifest_sha256": hashlib.sha256(raw).hexdigest(),
        "exported_at": manifest.get("exported_at"),
    }


def export_identity(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Which version of an export `directory` holds: manifest.json's sha256 (every export and
    adoption rewrites it: time, counts, runs) and its exported_at. MbpError when unreadable."""
    path = Path(directory).expanduser()
    try:
        raw = (path / MANIFEST).read_bytes()
        manifest = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _malformed(path, f"unreadable {MANIFEST}: {exc}") from exc
    return _identity(raw, manifest if isinstance(manifest, dict) else {})


def record_key(directory: str | os.PathLike[str]) -> str:
    """The `meta` key under which a store records the version it holds of this export."""
    return RECORD_PREFIX + str(Path(directory).expanduser().resolve())


def recorded_export(
    store: ResultsStore, directory: str | os.PathLike[str]
) -> dict[str, Any] | None:
    """The identity of the export at `directory` that `store` was last filled from (None: the
    store never recorded one, e.g. filled before stores recorded it)."""
    value = store.meta_value(record_key(directory))
    recorded = _loads(value)
    return recorded if isinstance(recorded, dict) else None


def holds_other_version(store: ResultsStore, directory: str | os.PathLike[str]) -> bool:
    """True when `store` recorded a version of the export at `directory` (`recorded_export`)
    other than the one there now: importing it with `replace=True` brings the store up to date."""
    recorded = recorded_export(store, directory)
    current = export_identity(directory)["manifest_sha256"]
    return recorded is not None and recorded.get("manifest_sha256") != current


def _malformed(path: Path, why: str) -> MbpError:
    return MbpError(
        f"{path} is not a valid mbp export ({why}): re-export it with `mbp export` "
        "or pass the shard's .duckdb file"
    )


def _load_export(directory: Path) -> _Export:
    """Read and check an export directory; MbpError if anything is missing or inconsistent."""
    try:
        raw = (directory / MANIFEST).read_bytes()
        manifest = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _malformed(directory, f"unreadable {MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _malformed(directory, f"{MANIFEST} is not an {FORMAT} manifest")
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise _malformed(directory, f"schema_version {version!r} is not a number")
    if version > SCHEMA_VERSION:
        raise MbpError(
            f"export {directory} was written by a newer mbp (schema {version} > "
            f"{SCHEMA_VERSION}): upgrade mbp to import it"
        )
    counts = manifest.get("counts") or {}
    tables = {}
    for table in TABLES:
        file = directory / f"{table}.parquet"
        if not file.is_file() and version < ADDED_TABLES.get(table, 0):
            tables[table] = None  # exported before the table existed: nothing to import
            continue
        if not file.is_file():
            raise _malformed(directory, f"{file.name} is missing")
        try:
            arrow = pq.read_table(file)
        except (OSError, pa.ArrowException) as exc:
            raise _malformed(directory, f"{file.name} is not readable Parquet: {exc}") from exc
        for column, value in ADDED_COLUMNS.get(table, {}).items():
            if column not in arrow.column_names:  # an export from before the column existed
                kind = pa.string() if value is None or isinstance(value, str) else None
                arrow = arrow.append_column(column, pa.array([value] * arrow.num_rows, kind))
        missing = [c for c in COLUMNS[table] if c not in arrow.column_names]
        if missing:
            raise _malformed(directory, f"{file.name} lacks columns {missing}")
        if table in counts and counts[table] != arrow.num_rows:
            raise _malformed(
                directory,
                f"{file.name} has {arrow.num_rows} rows, the manifest says {counts[table]}",
            )
        tables[table] = arrow.select(list(COLUMNS[table]))
    _check_no_orphans(directory, tables)
    return _Export(directory, tables, _identity(raw, manifest))


def _find_sources(src: Path) -> list[Path]:
    """Export directories and `.duckdb` files at `src` (itself, or the shards inside it)."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise MbpError(
            f"import source {src} does not exist: pass an export directory, a shard "
            "directory or a .duckdb file"
        )
    if (src / MANIFEST).exists() or (src / "runs.parquet").exists():
        return [src]
    found = sorted(
        p
        for p in src.iterdir()
        if (p.is_dir() and (p / MANIFEST).exists()) or (p.is_file() and p.suffix == ".duckdb")
    )
    if not found:
        raise MbpError(
            f"{src} holds no mbp export ({MANIFEST} + Parquet files) and no .duckdb "
            "shards: pass the directory `mbp export` or `--shard` wrote"
        )
    return found


def import_into(
    store: ResultsStore | str | os.PathLike[str],
    src_dir: str | os.PathLike[str],
    *,
    replace: bool = False,
) -> dict[str, int]:
    """Merge exports / shard stores at `src_dir` into `store` in one transaction.

    Returns the rows added per table plus `skipped` (rows whose key was already there) and
    `sources` (how many exports/shards were merged), e.g. `{"runs": 1, "cells": 12, ...,
    "skipped": 0, "sources": 2}`. A malformed source raises MbpError and changes nothing.

    `replace=True`: the sources' version wins. Every run (with all its rows) and checkpoint of
    the store whose id a source holds is deleted before the merge, in the same transaction;
    runs no source holds stay. The result then also has `replaced` (runs deleted and re-imported).
    """
    store = _as_store(store, read_only=False)
    src = Path(src_dir).expanduser()
    with tempfile.TemporaryDirectory(prefix="mbp-import-") as scratch:
        exports = []
        for i, source in enumerate(_find_sources(src)):
            if source.is_file():  # a .duckdb shard: snapshot it as an export first
                directory = export_store(
                    ResultsStore(source, read_only=True), Path(scratch) / f"shard-{i}"
                )
                exports.append(_Export(source, _load_export(directory).tables))
            else:
                exports.append(_load_export(source))
        return _merge(store, exports, replace=replace)


def _ids(export: _Export, table: str, column: str) -> set[str]:
    rows = export.tables[table]
    return set() if rows is None else set(rows.column(column).to_pylist())


def _merge(store: ResultsStore, exports: list[_Export], *, replace: bool) -> dict[str, int]:
    added = dict.fromkeys(TABLES, 0)
    skipped = replaced = 0
    with store.write_transaction("import results into it") as txn:
        con = txn.con
        present = {row[0] for row in con.execute("SELECT run_id FROM runs").fetchall()}
        if replace:
            replaced = _delete_held(con, exports, present)
        finished: set[str] = set()
        touched: set[str] = set()
        for export in exports:
            runs = export.tables["runs"].select(["run_id", "status"]).to_pylist()
            touched.update(r["run_id"] for r in runs)
            finished.update(r["run_id"] for r in runs if r["status"] in ("done", "partial"))
            for table in TABLES:
                rows = export.tables[table]
                if rows is None:  # a table the export's version did not have
                    continue
                before = _rows(con, table)
                try:
                    insert_frame(con, table, rows, on_conflict_skip=True)
                except duckdb.Error as exc:
                    first = (str(exc).splitlines() or [type(exc).__name__])[0]
                    raise _malformed(export.source, f"{table}: {first}") from exc
                added[table] += _rows(con, table) - before
                skipped += rows.num_rows - (_rows(con, table) - before)
        if touched:
            _refresh_runs(con, sorted(touched), finished)
        for export in exports:  # the store now holds this version of the export: remember it
            if export.identity and (replace or not _ids(export, "runs", "run_id") & present):
                _record(con, export)
        txn.changed = any(added.values()) or replaced > 0
    out = {**added, "skipped": skipped, "sources": len(exports)}
    return {**out, "replaced": replaced} if replace else out


def _delete_held(con: Any, exports: list[_Export], present: set[str]) -> int:
    """Delete the store's runs (all their rows) and checkpoints that an export holds too, so
    the export's version replaces them; the number of runs deleted."""
    runs = sorted(set().union(*(_ids(e, "runs", "run_id") for e in exports)) & present)
    for run_id in runs:
        delete_run_in(con, run_id)
    for ckpt_id in sorted(set().union(*(_ids(e, "checkpoints", "ckpt_id") for e in exports))):
        con.execute("DELETE FROM checkpoints WHERE ckpt_id = ?", [ckpt_id])
    return len(runs)


def _record(con: Any, export: _Export) -> None:
    """Write the export's identity under its `record_key` (no write when already there)."""
    key, value = record_key(export.source), json.dumps(export.identity, sort_keys=True)
    if con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall() != [(value,)]:
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])


def _check_no_orphans(source: Path, tables: dict[str, pa.Table | None]) -> None:
    """Every cell/curve/importance row of an export belongs to a run of the same export (else
    it was cut; and the store's runs must not adopt rows of another version of them)."""
    runs = set(tables["runs"].column("run_id").to_pylist())
    for table in RUN_TABLES:
        rows = tables[table]
        orphans = set() if rows is None else set(rows.column("run_id").to_pylist()) - runs
        if orphans:
            raise _malformed(source, f"{table} rows of run {min(orphans)!r} have no runs row")


def _rows(con: Any, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _refresh_runs(con: Any, run_ids: list[str], finished: set[str]) -> None:
    """Recount `cells_done` of merged runs; a run that some source finished (`done`, or
    `partial` for a shard) and that now has all its cells is `done`."""
    marks = ", ".join("?" * len(run_ids))
    con.execute(
        f"UPDATE runs SET cells_done = (SELECT count(*) FROM cells c WHERE c.run_id = runs.run_id)"
        f" WHERE run_id IN ({marks})",
        run_ids,
    )
    done = sorted(finished)
    if done:
        con.execute(
            f"UPDATE runs SET status = 'done' WHERE run_id IN ({', '.join('?' * len(done))}) "
            "AND cells_done >= coalesce(cells_total, 0)",
            done,
        )
