"""The read side of `ResultsStore`: DataFrame queries, counts, the version token and ad-hoc SQL.

Every query is one read-only transaction on a short-lived connection (an absent store reads as
an empty one), so the dashboard can poll while sweeps write.

    python -c "from mbp.store import ResultsStore; print(ResultsStore().curve_points(lang='en'))"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pandas as pd

from mbp.errors import MbpError
from mbp.store.connection import StoreFile
from mbp.store.schema import COLUMNS, quote

Filter = str | int | float | Sequence[str | int | float] | None


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


class StoreQueries:
    """Query methods shared by `ResultsStore` (which sets `_file`)."""

    _file: StoreFile

    @contextlib.contextmanager
    def read_transaction(self, *, sandbox: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection inside one locked transaction; do not keep it past the block."""
        with self._file.read(sandbox=sandbox) as con:
            yield con

    def _frame(self, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.read_transaction() as con:
            return con.execute(query, list(params)).fetchdf()

    def finished_cells(self, run_id: str) -> set[str]:
        """The ids of the cells of `run_id` already in the store."""
        with self.read_transaction() as con:
            rows = con.execute("SELECT cell_id FROM cells WHERE run_id = ?", [run_id]).fetchall()
        return {r[0] for r in rows}

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

    def outcomes(self, run_ids: Filter = None) -> pd.DataFrame:
        """Per-example outcomes of the evaluated models (mbp.store.outcomes) with their run's
        model/task/lang/method."""
        return self._joined("outcomes", run_ids, {}, "t.run_id, t.model_key")

    def outcome_run_ids(self, run_ids: Sequence[str] | None = None) -> set[str]:
        """The runs with any per-example outcome row (what intervals need), among `run_ids`
        when given. The one definition of "has outcomes" for plan status and the Overview."""
        where, params = _where({"run_id": run_ids})
        frame = self._frame(f"SELECT DISTINCT run_id FROM outcomes{where}", params)
        return set(frame["run_id"])

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
