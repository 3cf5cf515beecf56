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
from mbp.store.queries import StoreQueries
from mbp.store.rows import Rows, insert_frame, rows_frame
from mbp.store.schema import CELL_ROW_TABLES, COLUMNS, KEYS, RUN_TABLES, quote

RunKind = Literal["sweep", "importance", "layers"]
# partial: a `--shard` worker finished its share of the cells (import merges shards)
RunStatus = Literal["running", "partial", "done", "failed", "cancelled"]


def _now() -> datetime:
    """UTC now as a naive timestamp (the store's TIMESTAMP columns are UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _json(value: Any) -> str | None:
    """JSON text for a dict/list argument; a string is taken as JSON already."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=isinstance(value, Mapping), default=str)


class ResultsStore(StoreQueries):
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
    def write_transaction(self, action: str = "write to it") -> Iterator[WriteTransaction]:
        """A writable connection (`txn.con`) inside one locked transaction; commits at the end,
        rolls back on an exception. `action` completes the read-only refusal message."""
        with self._file.write(action) as txn:
            yield txn

    # -- meta -----------------------------------------------------------------------------------

    def meta_value(self, key: str) -> str | None:
        """A value of the store's own `meta` table (None when unset or the file is new)."""
        if not self.path.exists():
            return None
        frame = self.sql("SELECT value FROM meta WHERE key = ?", [key])
        return None if frame.empty else str(frame["value"].iloc[0])

    def set_meta_value(self, key: str, value: str) -> None:
        with self.write_transaction(f"record {key}") as txn:
            txn.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

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
        protocol: str = "posthoc",
    ) -> None:
        """Insert the run, or mark an existing one `running` again (keeping `created_at`)."""
        if kind not in get_args(RunKind):
            raise MbpError(f"run kind {kind!r} is unknown: use one of {list(get_args(RunKind))}")
        now = _now()
        with self.write_transaction(f"start run {run_id}") as txn:
            con = txn.con
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
                # a run asked for more cells than before (all layers after the thirds) grows
                con.execute(
                    "UPDATE runs SET status = 'running', error = NULL, updated_at = ?, "
                    "cells_done = (SELECT count(*) FROM cells WHERE run_id = ?), "
                    "cells_total = greatest(coalesce(cells_total, 0), coalesce(?, 0)) "
                    "WHERE run_id = ?",
                    [now, run_id, cells_total, run_id],
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
                "protocol": protocol,
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
            had_run, had_rows = delete_run_in(txn.con, run_id)
            txn.changed = had_run or had_rows
            return had_run

    def delete_checkpoint(self, ckpt_id: str) -> bool:
        """Forget a fine-tuned checkpoint's row (its files stay in the cache); False when there
        was none. Refused while a stored run names it: delete those runs first."""
        with self.write_transaction(f"delete checkpoint {ckpt_id}") as txn:
            users = _checkpoint_users(txn.con, ckpt_id)
            if users:
                raise MbpError(
                    f"checkpoint {ckpt_id!r} is used by {len(users)} stored run(s) "
                    f"({', '.join(users[:4])}{', ...' if len(users) > 4 else ''}): delete those "
                    "runs first"
                )
            deleted = _count(
                txn.con.execute("DELETE FROM checkpoints WHERE ckpt_id = ?", [ckpt_id])
            )
            txn.changed = deleted > 0
            return deleted > 0

    def checkpoint_users(self, ckpt_id: str, excluding: Sequence[str] = ()) -> list[str]:
        """The stored runs (other than `excluding`) whose spec names this checkpoint, sorted."""
        with self.read_transaction() as con:
            return [u for u in _checkpoint_users(con, ckpt_id) if u not in set(excluding)]

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

    def write_cell(
        self,
        run_id: str,
        cell_id: str,
        *,
        elapsed_s: float | None,
        curve_points: Rows | None = None,
        head_importance: Rows | None = None,
        layer_importance: Rows | None = None,
        outcomes: Rows | None = None,
        replace: bool = False,
    ) -> bool:
        """Write one finished cell and its rows in ONE transaction; bump the run's `cells_done`.

        Returns False (writing nothing) when the cell is already there, unless `replace=True`,
        which first deletes the cell and the rows with the same keys as the new ones. An
        `outcomes` row of a model the run already holds (a layer-wise run's unpruned model,
        written with each of its cells) is kept as it is: the same model on the same examples.
        """
        frames = {
            table: frame
            for table, rows in (
                ("curve_points", curve_points),
                ("head_importance", head_importance),
                ("layer_importance", layer_importance),
                ("outcomes", outcomes),
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
                    insert_frame(con, table, frame, run_id=run_id,
                                 on_conflict_skip=table == "outcomes")  # fmt: skip
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

    def add_outcomes(self, run_id: str, outcomes: Rows) -> int:
        """Add outcome rows to a run's existing cells in ONE transaction (no cell is written or
        changed): outcomes recomputed for a run stored before they were. A model the run already
        has outcomes for keeps them. Returns the rows added."""
        frame = rows_frame("outcomes", outcomes, run_id)
        if frame is None:
            return 0
        with self.write_transaction(f"add outcomes to run {run_id}") as txn:
            self._require_run(txn.con, run_id)
            before = _count(
                txn.con.execute("SELECT count(*) FROM outcomes WHERE run_id = ?", [run_id])
            )
            insert_frame(txn.con, "outcomes", frame, run_id=run_id, on_conflict_skip=True)
            after = _count(
                txn.con.execute("SELECT count(*) FROM outcomes WHERE run_id = ?", [run_id])
            )
            txn.changed = after > before
            return after - before

    def tag_job(self, run_id: str, job_id: str) -> None:
        """Record that live job `job_id` works on run `run_id` (once)."""
        with self.write_transaction(f"tag run {run_id} with job {job_id}") as txn:
            self._require_run(txn.con, run_id)
            txn.con.execute(
                "INSERT INTO run_jobs VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [run_id, job_id, _now()],
            )

    def job_runs(self, job_id: str) -> pd.DataFrame:
        """The runs a live job worked on: run_id, kind, lang, method, status, cells_done,
        cells_total, updated_at."""
        return self.sql(
            "SELECT r.run_id, r.kind, r.lang, r.method, r.status, r.cells_done, r.cells_total, "
            "r.updated_at FROM runs r JOIN run_jobs j USING (run_id) WHERE j.job_id = ? "
            "ORDER BY r.lang, r.method",
            [job_id],
        )

    def write_latency(self, run_id: str, rows: Rows) -> int:
        """Store measured latencies of a run's head sets (a measurement with the same key,
        i.e. head set, device, precision and batch size, replaces the older one)."""
        frame = rows_frame("latency", rows, run_id)
        if frame is None:
            return 0
        with self.write_transaction(f"store the latency of run {run_id}") as txn:
            self._require_run(txn.con, run_id)
            _delete_same_keys(txn.con, "latency", frame, run_id)
            insert_frame(txn.con, "latency", frame, run_id=run_id)
        return len(frame)

    def set_point_costs(self, run_id: str, costs: dict[str, dict[str, float]]) -> int:
        """Fill the cost columns of a run's curve points, per stored head set (its JSON text
        as stored) in one transaction; returns the rows updated."""
        columns = ("params", "flops", "params_full", "flops_full")
        updated = 0
        with self.write_transaction(f"fill the costs of run {run_id}") as txn:
            self._require_run(txn.con, run_id)
            for heads, cost in costs.items():
                updated += txn.con.execute(
                    "UPDATE curve_points SET params = ?, flops = ?, params_full = ?, "
                    "flops_full = ? WHERE run_id = ? AND pruned_heads = ?",
                    [*(cost[c] for c in columns), run_id, heads],
                ).fetchone()[0]
        return updated

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
        weights_sha256: str | None = None,
    ) -> None:
        """Record (or replace) a fine-tuned checkpoint."""
        columns = ", ".join(quote(c) for c in COLUMNS["checkpoints"])
        with self.write_transaction(f"record checkpoint {ckpt_id}") as txn:
            txn.con.execute(
                f"INSERT OR REPLACE INTO checkpoints ({columns}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    weights_sha256,
                ],
            )


def delete_run_in(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[bool, bool]:
    """Delete a run and its rows in every run table inside the caller's transaction (the one
    definition `delete_run` and `import_into(replace=True)` share); (had the run, had rows)."""
    had_rows = ResultsStore._delete_rows(con, run_id)
    return _count(con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])) > 0, had_rows


def _checkpoint_users(con: duckdb.DuckDBPyConnection, ckpt_id: str) -> list[str]:
    query = (
        "SELECT run_id FROM runs WHERE json_extract_string(spec_json, '$.checkpoint') = ? "
        "ORDER BY run_id"
    )
    return [row[0] for row in con.execute(query, [ckpt_id]).fetchall()]


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    """The row count a DELETE/UPDATE/INSERT statement reports."""
    rows = cursor.fetchall()
    return int(rows[0][0]) if rows else 0


def _delete_same_keys(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, run_id: str
) -> None:
    """Delete the rows of `run_id` in `table` whose keys match rows of `frame` (replace=True)."""
    assert table in (*CELL_ROW_TABLES, "latency")
    con.register("_mbp_keys", frame)
    try:
        match = " AND ".join(f"t.{quote(k)} = k.{quote(k)}" for k in KEYS[table][1:])
        con.execute(
            f"DELETE FROM {table} t USING _mbp_keys k WHERE t.run_id = ? AND {match}", [run_id]
        )
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_mbp_keys")
