"""Turning the rows a caller hands to the store into checked DataFrames, and inserting them.

Rows come as a list of dicts or a DataFrame with the documented columns of their table
(docs/STORE.md) minus `run_id`, which the store fills in. JSON columns (`pruned_heads`,
`layers`) may be given as lists; they are stored as JSON text.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from mbp.errors import MbpError
from mbp.store.schema import ADDED_COLUMNS, COLUMNS, JSON_COLUMNS, quote

Rows = Sequence[Mapping[str, Any]] | pd.DataFrame


def json_text(value: Any) -> str | None:
    """JSON text for a list/tuple/array/dict; strings (already JSON) and None pass through."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and np.isnan(value):
        return None
    return json.dumps(_plain(value), separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rows_frame(table: str, rows: Rows | None, run_id: str) -> pd.DataFrame | None:
    """The rows as a DataFrame with exactly the table's columns minus `run_id` (None if none).

    Raises MbpError naming the missing or unknown columns.
    """
    if rows is None:
        return None
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        return None
    if "run_id" in frame.columns:
        others = sorted(set(frame["run_id"].astype(str)) - {run_id})
        if others:
            raise MbpError(
                f"{table} rows carry run_id {others[0]!r} but are written to run {run_id!r}: "
                "drop the run_id column (the store fills it in)"
            )
        frame = frame.drop(columns="run_id")
    expected = [c for c in COLUMNS[table] if c != "run_id"]
    for column, default in ADDED_COLUMNS.get(table, {}).items():
        if column not in frame.columns:  # a column a later version added: its default
            frame[column] = default
    missing = [c for c in expected if c not in frame.columns]
    unknown = [str(c) for c in frame.columns if c not in expected]
    if missing or unknown:
        raise MbpError(
            f"{table} rows have missing columns {missing} and unknown columns {unknown}: "
            f"give exactly {expected}"
        )
    for column in JSON_COLUMNS.get(table, ()):
        frame[column] = [json_text(v) for v in frame[column]]
    return frame[expected].reset_index(drop=True)


def select_casts(table: str, columns: Iterable[str], source: str = "") -> str:
    """`CAST("col" AS TYPE), ...` for `INSERT ... SELECT` from a registered frame or table."""
    prefix = f"{source}." if source else ""
    types = COLUMNS[table]
    return ", ".join(f"CAST({prefix}{quote(c)} AS {types[c]})" for c in columns)


def insert_frame(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: Any,
    *,
    run_id: str | None = None,
    on_conflict_skip: bool = False,
) -> None:
    """INSERT the rows of `frame` (a DataFrame or Arrow table) into `table` on `con`.

    With `run_id`, the frame lacks that column and every row gets it.
    """
    name = f"_mbp_rows_{table}"
    con.register(name, frame)
    try:
        columns = [c for c in COLUMNS[table] if not (run_id is not None and c == "run_id")]
        target = ([quote("run_id")] if run_id is not None else []) + [quote(c) for c in columns]
        head = "?, " if run_id is not None else ""
        conflict = " ON CONFLICT DO NOTHING" if on_conflict_skip else ""
        con.execute(
            f"INSERT INTO {table} ({', '.join(target)}) "
            f"SELECT {head}{select_casts(table, columns)} FROM {name}{conflict}",
            [run_id] if run_id is not None else [],
        )
    finally:
        with contextlib.suppress(duckdb.Error):  # fails once the transaction is aborted
            con.unregister(name)
