"""`ResultsStore`: the one DuckDB file every `mbp` command writes and the dashboard reads.

Each method is one transaction on a short-lived connection under `<store>.lock`
(see docs/STORE.md), so sweeps, live runs and the dashboard share a file safely.

    python -c "from mbp.store import ResultsStore; print(ResultsStore('r.duckdb').counts())"
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import duckdb
import pandas as pd

from mbp.errors import MbpError
from mbp.paths import store_path
from mbp.store.connection import StoreFile, WriteTransaction
from mbp.store.rows import Rows, insert_frame, rows_frame
from mbp.store.schema import CELL_ROW_TABLES, COLUMNS, KEYS, RUN_TABLES, quote

RunKind = Literal["sweep", "importance", "layers"]
RunStatus = Literal["running", "partial", "done", "failed"]  # partial: a shard finished its cells
Filter = str | int | float | Sequence[str | int | float] | None


def _now() -> datetime:
    """UTC now as a naive timestamp (the store's TIMESTAMP columns are UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _json(value: Any) -> str | None:
    """JSON text for a dict/list argument; a string is taken as JSON already."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=isinstance(value, Mapping), default=str)


def _where(filters: Mapping[str, Filter], alias: str = "") -> tuple[str, list[Any]]:
    """` WHERE a = ? AND b IN (?, ?)` for the non-None filters (lists mean "any of")."""
    clauses: list[str] = []
    params: list[Any] = []
    prefix = f"{alias}." if alias else ""
    for column, value in filters.items():
        if value is None:
            continue
        if isinstance(value, str | int | float):
            clauses.append(f"{prefix}{quote(column)} = ?")
            params.append(value)
        else:
            values = list(value)
            if not values:
                clauses.append("FALSE")
                continue
            clauses.append(f"{prefix}{quote(column)} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class ResultsStore:
    """The results store at `path` (default: `mbp.paths.store_path()`).

    Opening checks the file (MbpError for a non-DuckDB file, a foreign DuckDB file or a newer
    schema, leaving it untouched) but keeps nothing open. The file is created by the first
    write. `read_only=True` refuses every write and never creates the file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, read_only: bool = False):
        self.path = store_path(path)
        self.read_only = read_only
        self._file = StoreFile(self.path, read_only=read_only)
        self._file.check()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"ResultsStore({str(self.path)!r}{mode})"

    # -- transactions (for mbp.store.transfer and other multi-step work) ----------------------

    @contextlib.contextmanager
    def read_transaction(self, *, sandbox: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection inside one locked transaction; do not keep it past the block."""
        with self._file.read(sandbox=sandbox) as con:
            yield con

    @contextlib.contextmanager
    def write_transaction(self, action: str = "write to it") -> Iterator[WriteTransaction]:
        """A writable connection (`txn.con`) inside one locked transaction; commits at the end,
        rolls back on an exception. `action` completes the read-only refusal message."""
        with self._file.write(action) as txn:
            yield txn

    def _frame(self, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.read_transaction() as con:
            return con.execute(query, list(params)).fetchdf()

    # -- runs -----------------------------------------------------------------------------------

    def ensure_run(
        self,
        run_id: str,
        kind: RunKind,
        spec_json: str | Mapping[str, Any],
        *,
        model: str,
        model_checksum: str | None,
        task: str,
        lang: str | None,
        split: str | None,
        method: str | None,
        seeds: Sequence[int] | str | None,
        n_examples: int | None,
        cells_total: int | None,
        device: str | None,
        versions_json: str | Mapping[str, Any] | None,
        code_commit: str | None,
        command: str | None,
    ) -> None:
        """Insert the run, or mark an existing one `running` again (keeping `created_at`)."""
        if kind not in get_args(RunKind):
            raise MbpError(f"run kind {kind!r} is unknown: use one of {list(get_args(RunKind))}")
        now = _now()
        with self.write_transaction(f"start run {run_id}") as txn:
            con = txn.con
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
                con.execute(
                    "UPDATE runs SET status = 'running', error = NULL, updated_at = ?, "
                    "cells_done = (SELECT count(*) FROM cells WHERE run_id = ?) WHERE run_id = ?",
                    [now, run_id, run_id],
                )
                return
            values = {
                "run_id": run_id,
                "kind": kind,
                "spec_json": _json(spec_json),
                "model": model,
                "model_checksum": model_checksum,
                "task": task,
                "lang": lang,
                "split": split,
                "method": method,
                "seeds": _json(
                    list(seeds) if seeds is not None and not isinstance(seeds, str) else seeds
                ),
                "n_examples": n_examples,
                "status": "running",
                "cells_total": cells_total,
                "cells_done": 0,
                "device": device,
                "versions_json": _json(versions_json),
                "code_commit": code_commit,
                "command": command,
                "created_at": now,
                "updated_at": now,
                "elapsed_s": None,
                "error": None,
            }
            columns = ", ".join(quote(c) for c in values)
            con.execute(
                f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )

    def finish_run(
        self,
        run_id: str,
        status: RunStatus = "done",
        error: str | None = None,
        elapsed_s: float | None = None,
    ) -> None:
        """Set a run's final status (and error text / total seconds)."""
        if status not in get_args(RunStatus):
            raise MbpError(
                f"run status {status!r} is unknown: use one of {list(get_args(RunStatus))}"
            )
        with self.write_transaction(f"finish run {run_id}") as txn:
            self._require_run(txn.con, run_id)
            txn.con.execute(
                "UPDATE runs SET status = ?, error = ?, elapsed_s = coalesce(?, elapsed_s), "
                "updated_at = ? WHERE run_id = ?",
                [status, error, elapsed_s, _now(), run_id],
            )

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and all its rows; False when there was no such run."""
        with self.write_transaction(f"delete run {run_id}") as txn:
            had_rows = self._delete_rows(txn.con, run_id)
            had_run = _count(txn.con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])) > 0
            txn.changed = had_run or had_rows
            return had_run

    def reset_run(self, run_id: str) -> bool:
        """Delete a run's cells and rows but keep the run (for `--force`); False if unknown."""
        with self.write_transaction(f"reset run {run_id}") as txn:
            had_rows = self._delete_rows(txn.con, run_id)
            cursor = txn.con.execute(
                "UPDATE runs SET cells_done = 0, elapsed_s = NULL, error = NULL, updated_at = ? "
                "WHERE run_id = ?",
                [_now(), run_id],
            )
            had_run = _count(cursor) > 0
            txn.changed = had_run or had_rows
            return had_run

    @staticmethod
    def _delete_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
        deleted = 0
        for table in RUN_TABLES:
            deleted += _count(con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id]))
        return deleted > 0

    @staticmethod
    def _require_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        if not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
            raise MbpError(
                f"run {run_id!r} is not in the store: call ensure_run({run_id!r}, ...) first"
            )

    # -- cells ----------------------------------------------------------------------------------

    def finished_cells(self, run_id: str) -> set[str]:
        """The ids of the cells of `run_id` already in the store."""
        with self.read_transaction() as con:
            rows = con.execute("SELECT cell_id FROM cells WHERE run_id = ?", [run_id]).fetchall()
        return {r[0] for r in rows}

    def write_cell(
        self,
        run_id: str,
        cell_id: str,
        *,
        elapsed_s: float | None,
        curve_points: Rows | None = None,
        head_importance: Rows | None = None,
        layer_importance: Rows | None = None,
        replace: bool = False,
    ) -> bool:
        """Write one finished cell and its rows in ONE transaction; bump the run's `cells_done`.

        Returns False (writing nothing) when the cell is already there, unless `replace=True`,
        which first deletes the cell and the rows with the same keys as the new ones.
        """
        frames = {
            table: frame
            for table, rows in (
                ("curve_points", curve_points),
                ("head_importance", head_importance),
                ("layer_importance", layer_importance),
            )
            if (frame := rows_frame(table, rows, run_id)) is not None
        }
        with self.write_transaction(f"write cell {cell_id} of run {run_id}") as txn:
            con = txn.con
            self._require_run(con, run_id)
            exists = con.execute(
                "SELECT 1 FROM cells WHERE run_id = ? AND cell_id = ?", [run_id, cell_id]
            ).fetchall()
            if exists and not replace:
                txn.changed = False
                return False
            if replace:
                con.execute("DELETE FROM cells WHERE run_id = ? AND cell_id = ?", [run_id, cell_id])
                for table, frame in frames.items():
                    _delete_same_keys(con, table, frame, run_id)
            con.execute(
                "INSERT INTO cells VALUES (?, ?, ?, ?)", [run_id, cell_id, _now(), elapsed_s]
            )
            for table, frame in frames.items():
                try:
                    insert_frame(con, table, frame, run_id=run_id)
                except duckdb.ConstraintException as exc:
                    raise MbpError(
                        f"cell {cell_id!r} of run {run_id!r} has {table} rows whose key "
                        f"{list(KEYS[table][1:])} is already in the store or repeated: give each "
                        "row its own key, or pass replace=True"
                    ) from exc
            con.execute(
                "UPDATE runs SET cells_done = (SELECT count(*) FROM cells WHERE run_id = ?), "
                "updated_at = ? WHERE run_id = ?",
                [run_id, _now(), run_id],
            )
        return True

    # -- checkpoints ----------------------------------------------------------------------------

    def record_checkpoint(
        self,
        ckpt_id: str,
        *,
        model: str,
        task: str,
        spec_json: str | Mapping[str, Any],
        path: str | os.PathLike[str],
        metric: str | None,
        dev_value: float | None,
        n_train: int | None,
    ) -> None:
        """Record (or replace) a fine-tuned checkpoint."""
        with self.write_transaction(f"record checkpoint {ckpt_id}") as txn:
            txn.con.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    ckpt_id,
                    model,
                    task,
                    _json(spec_json),
                    str(path),
                    metric,
                    dev_value,
                    n_train,
                    _now(),
                ],
            )

    def find_checkpoint(self, ckpt_id: str) -> dict[str, Any] | None:
        """The checkpoint row as a dict, or None."""
        with self.read_transaction() as con:
            cursor = con.execute("SELECT * FROM checkpoints WHERE ckpt_id = ?", [ckpt_id])
            rows = cursor.fetchall()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, rows[0], strict=True)) if rows else None

    # -- queries --------------------------------------------------------------------------------

    def runs(self, **filters: Filter) -> pd.DataFrame:
        """Runs, oldest first; `runs(model="e5-small", status=["running", "failed"])`."""
        unknown = sorted(set(filters) - set(COLUMNS["runs"]))
        if unknown:
            raise MbpError(
                f"runs() filter {unknown[0]!r} is not a runs column: use one of "
                f"{list(COLUMNS['runs'])}"
            )
        where, params = _where(filters)
        return self._frame(f"SELECT * FROM runs{where} ORDER BY created_at, run_id", params)

    def _joined(
        self, table: str, run_ids: Filter, filters: Mapping[str, Filter], order: str
    ) -> pd.DataFrame:
        run_filters = {k: v for k, v in filters.items() if k in ("model", "task", "lang")}
        own = {k: v for k, v in filters.items() if k not in run_filters}
        where_r, params_r = _where({"run_id": run_ids, **run_filters}, "r")
        where_t, params_t = _where(own, "t")
        if where_t:
            where_r = (where_r + " AND " if where_r else " WHERE ") + where_t[len(" WHERE ") :]
        rest = ", ".join(f"t.{quote(c)}" for c in COLUMNS[table] if c != "run_id")
        return self._frame(
            f"SELECT t.run_id, r.model, r.task, r.lang, r.method, {rest} "
            f"FROM {table} t JOIN runs r USING (run_id){where_r} ORDER BY {order}",
            params_r + params_t,
        )

    def curve_points(
        self,
        run_ids: Filter = None,
        *,
        model: Filter = None,
        task: Filter = None,
        lang: Filter = None,
        metric: Filter = None,
    ) -> pd.DataFrame:
        """Curve points with their run's model/task/lang/method."""
        return self._joined(
            "curve_points",
            run_ids,
            {"model": model, "task": task, "lang": lang, "metric": metric},
            "t.run_id, t.order_name, t.seed, t.metric, t.fraction",
        )

    def head_importance(
        self,
        run_ids: Filter = None,
        *,
        model: Filter = None,
        task: Filter = None,
        lang: Filter = None,
        estimator: Filter = None,
    ) -> pd.DataFrame:
        """Head importance scores with their run's model/task/lang/method."""
        return self._joined(
            "head_importance",
            run_ids,
            {"model": model, "task": task, "lang": lang, "estimator": estimator},
            "t.run_id, t.layer, t.head",
        )

    def layer_importance(
        self,
        run_ids: Filter = None,
        *,
        model: Filter = None,
        task: Filter = None,
        lang: Filter = None,
        metric: Filter = None,
    ) -> pd.DataFrame:
        """Layer/group ablation results with their run's model/task/lang/method."""
        return self._joined(
            "layer_importance",
            run_ids,
            {"model": model, "task": task, "lang": lang, "metric": metric},
            "t.run_id, t.metric, t.target",
        )

    def checkpoints(self) -> pd.DataFrame:
        """Every recorded checkpoint, oldest first."""
        return self._frame("SELECT * FROM checkpoints ORDER BY created_at, ckpt_id")

    def counts(self) -> dict[str, int]:
        """Rows per table (one consistent snapshot)."""
        selects = ", ".join(f"(SELECT count(*) FROM {t})" for t in COLUMNS)
        with self.read_transaction() as con:
            (row,) = con.execute(f"SELECT {selects}").fetchall()
        return dict(zip(COLUMNS, map(int, row), strict=True))

    def version_token(self) -> str:
        """A short string that changes whenever anything is written (a dashboard cache key)."""
        if not self._file.exists():
            return "absent"
        with self.read_transaction() as con:
            meta = dict(
                con.execute(
                    "SELECT key, value FROM meta WHERE key IN ('store_id', 'write_count')"
                ).fetchall()
            )
        return f"{meta.get('store_id', '')}-{meta.get('write_count', '0')}"

    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run an ad-hoc query on a read-only, sandboxed connection (no file access)."""
        try:
            with self.read_transaction(sandbox=True) as con:
                return con.execute(query, params if params is not None else []).fetchdf()
        except duckdb.Error as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise MbpError(
                f"query failed: {first}: fix the SQL (the store is read-only here)"
            ) from exc


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    """The row count a DELETE/UPDATE/INSERT statement reports."""
    rows = cursor.fetchall()
    return int(rows[0][0]) if rows else 0


def _delete_same_keys(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, run_id: str
) -> None:
    """Delete the rows of `run_id` in `table` whose keys match rows of `frame` (replace=True)."""
    assert table in CELL_ROW_TABLES
    con.register("_mbp_keys", frame)
    try:
        match = " AND ".join(f"t.{quote(k)} = k.{quote(k)}" for k in KEYS[table][1:])
        con.execute(
            f"DELETE FROM {table} t USING _mbp_keys k WHERE t.run_id = ? AND {match}", [run_id]
        )
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_mbp_keys")
