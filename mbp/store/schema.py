"""The results store's tables (docs/STORE.md): DDL per schema version, migrations and checks.

`MIGRATIONS[v]` is the SQL that takes a store from version v-1 to v (version 1 creates every
table). A migration, once released, never changes: a new column or table is a new version.
`COLUMNS` and `KEYS` describe the *current* version and are what the rest of `mbp.store`
validates rows against; tests check that they agree with the DDL.

    python -c "from mbp.store.schema import SCHEMA_VERSION, COLUMNS; print(SCHEMA_VERSION, COLUMNS)"
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb

from mbp import __version__
from mbp.errors import MbpError

SCHEMA_VERSION = 6
CREATED_BY = f"mbp {__version__}"  # the tag that tells our files from foreign DuckDB files

_SCHEMA_V1 = """
CREATE TABLE meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    spec_json VARCHAR,
    model VARCHAR,
    model_checksum VARCHAR,
    task VARCHAR,
    lang VARCHAR,
    split VARCHAR,
    method VARCHAR,
    seeds VARCHAR,
    n_examples INTEGER,
    status VARCHAR NOT NULL,
    cells_total INTEGER,
    cells_done INTEGER NOT NULL DEFAULT 0,
    device VARCHAR,
    versions_json VARCHAR,
    code_commit VARCHAR,
    command VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    elapsed_s DOUBLE,
    error VARCHAR
);
CREATE TABLE cells (
    run_id VARCHAR NOT NULL,
    cell_id VARCHAR NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    elapsed_s DOUBLE,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE curve_points (
    run_id VARCHAR NOT NULL,
    order_name VARCHAR NOT NULL,
    seed INTEGER NOT NULL,
    fraction DOUBLE NOT NULL,
    heads_pruned INTEGER,
    pruned_heads VARCHAR,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    n_examples INTEGER,
    PRIMARY KEY (run_id, order_name, seed, fraction, metric)
);
CREATE TABLE head_importance (
    run_id VARCHAR NOT NULL,
    layer INTEGER NOT NULL,
    head INTEGER NOT NULL,
    score DOUBLE,
    estimator VARCHAR,
    normalization VARCHAR,
    n_examples INTEGER,
    PRIMARY KEY (run_id, layer, head)
);
CREATE TABLE layer_importance (
    run_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    layers VARCHAR,
    metric VARCHAR NOT NULL,
    base_value DOUBLE,
    value DOUBLE,
    "drop" DOUBLE,
    PRIMARY KEY (run_id, target, metric)
);
CREATE TABLE checkpoints (
    ckpt_id VARCHAR PRIMARY KEY,
    model VARCHAR,
    task VARCHAR,
    spec_json VARCHAR,
    path VARCHAR,
    metric VARCHAR,
    dev_value DOUBLE,
    n_train INTEGER,
    created_at TIMESTAMP NOT NULL
);
"""

# v2: the protocol a run measured (posthoc: prune the fine-tuned model; retrain: prune, then
# fine-tune) and the sha256 of a fine-tuned checkpoint's weights (what it is, not how it was made)
_SCHEMA_V2 = """
ALTER TABLE runs ADD COLUMN protocol VARCHAR DEFAULT 'posthoc';
ALTER TABLE checkpoints ADD COLUMN weights_sha256 VARCHAR;
"""

# v3: what each curve point's pruned model costs, counted from its structure (mbp.engine.cost):
# parameters and encoder FLOPs per evaluated example, and the same for the unpruned model
_SCHEMA_V3 = """
ALTER TABLE curve_points ADD COLUMN params BIGINT;
ALTER TABLE curve_points ADD COLUMN flops DOUBLE;
ALTER TABLE curve_points ADD COLUMN params_full BIGINT;
ALTER TABLE curve_points ADD COLUMN flops_full DOUBLE;
"""

# v4: measured latency of a run's structurally pruned models (`mbp latency`), as speed-up ratios
# of interleaved timings against the unpruned model, on one device and precision
_SCHEMA_V4 = """
CREATE TABLE latency (
    run_id VARCHAR NOT NULL,
    pruned_heads VARCHAR NOT NULL,
    device VARCHAR NOT NULL,
    precision VARCHAR NOT NULL,
    batch_size INTEGER NOT NULL,
    seq_len INTEGER,
    repeats INTEGER,
    ms_full DOUBLE,
    ms_pruned DOUBLE,
    speedup DOUBLE,
    speedup_min DOUBLE,
    speedup_max DOUBLE,
    measured_at TIMESTAMP,
    PRIMARY KEY (run_id, pruned_heads, device, precision, batch_size)
);
"""

# v5: which live job (a dashboard launch, `--job-id`) wrote to which run, so progress, cancel and
# "mark stopped" act on exactly that job's runs
_SCHEMA_V5 = """
CREATE TABLE run_jobs (
    run_id VARCHAR NOT NULL,
    job_id VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, job_id)
);
"""

# v6: per-example outcomes of every evaluated model (mbp.store.outcomes), so intervals come from
# the stored predictions without re-running any model
_SCHEMA_V6 = """
CREATE TABLE outcomes (
    run_id VARCHAR NOT NULL,
    model_key VARCHAR NOT NULL,
    n_examples INTEGER NOT NULL,
    encoding VARCHAR NOT NULL,
    predictions VARCHAR NOT NULL,
    labels VARCHAR NOT NULL,
    PRIMARY KEY (run_id, model_key)
);
"""

MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5, 6: _SCHEMA_V6,
}  # fmt: skip
#: Tables a later version added: an export written before that version has no file for them.
ADDED_TABLES: dict[str, int] = {"latency": 4, "run_jobs": 5, "outcomes": 6}

#: Columns a later version added, with the value rows written before it get (an export of an
#: older version is imported with them filled in; a writer may omit them too).
ADDED_COLUMNS: dict[str, dict[str, object]] = {
    "runs": {"protocol": "posthoc"},
    "checkpoints": {"weights_sha256": None},
    "curve_points": {"params": None, "flops": None, "params_full": None, "flops_full": None},
}

# Current schema: table -> ordered (column, DuckDB type). `meta` is internal and not listed.
COLUMNS: dict[str, dict[str, str]] = {
    "runs": {
        "run_id": "VARCHAR",
        "kind": "VARCHAR",
        "spec_json": "VARCHAR",
        "model": "VARCHAR",
        "model_checksum": "VARCHAR",
        "task": "VARCHAR",
        "lang": "VARCHAR",
        "split": "VARCHAR",
        "method": "VARCHAR",
        "seeds": "VARCHAR",
        "n_examples": "INTEGER",
        "status": "VARCHAR",
        "cells_total": "INTEGER",
        "cells_done": "INTEGER",
        "device": "VARCHAR",
        "versions_json": "VARCHAR",
        "code_commit": "VARCHAR",
        "command": "VARCHAR",
        "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
        "elapsed_s": "DOUBLE",
        "error": "VARCHAR",
        "protocol": "VARCHAR",
    },
    "cells": {
        "run_id": "VARCHAR",
        "cell_id": "VARCHAR",
        "finished_at": "TIMESTAMP",
        "elapsed_s": "DOUBLE",
    },
    "curve_points": {
        "run_id": "VARCHAR",
        "order_name": "VARCHAR",
        "seed": "INTEGER",
        "fraction": "DOUBLE",
        "heads_pruned": "INTEGER",
        "pruned_heads": "VARCHAR",
        "metric": "VARCHAR",
        "value": "DOUBLE",
        "n_examples": "INTEGER",
        "params": "BIGINT",
        "flops": "DOUBLE",
        "params_full": "BIGINT",
        "flops_full": "DOUBLE",
    },
    "head_importance": {
        "run_id": "VARCHAR",
        "layer": "INTEGER",
        "head": "INTEGER",
        "score": "DOUBLE",
        "estimator": "VARCHAR",
        "normalization": "VARCHAR",
        "n_examples": "INTEGER",
    },
    "layer_importance": {
        "run_id": "VARCHAR",
        "target": "VARCHAR",
        "layers": "VARCHAR",
        "metric": "VARCHAR",
        "base_value": "DOUBLE",
        "value": "DOUBLE",
        "drop": "DOUBLE",
    },
    "latency": {
        "run_id": "VARCHAR",
        "pruned_heads": "VARCHAR",
        "device": "VARCHAR",
        "precision": "VARCHAR",
        "batch_size": "INTEGER",
        "seq_len": "INTEGER",
        "repeats": "INTEGER",
        "ms_full": "DOUBLE",
        "ms_pruned": "DOUBLE",
        "speedup": "DOUBLE",
        "speedup_min": "DOUBLE",
        "speedup_max": "DOUBLE",
        "measured_at": "TIMESTAMP",
    },
    "run_jobs": {
        "run_id": "VARCHAR",
        "job_id": "VARCHAR",
        "started_at": "TIMESTAMP",
    },
    "outcomes": {
        "run_id": "VARCHAR",
        "model_key": "VARCHAR",
        "n_examples": "INTEGER",
        "encoding": "VARCHAR",
        "predictions": "VARCHAR",
        "labels": "VARCHAR",
    },
    "checkpoints": {
        "ckpt_id": "VARCHAR",
        "model": "VARCHAR",
        "task": "VARCHAR",
        "spec_json": "VARCHAR",
        "path": "VARCHAR",
        "metric": "VARCHAR",
        "dev_value": "DOUBLE",
        "n_train": "INTEGER",
        "created_at": "TIMESTAMP",
        "weights_sha256": "VARCHAR",
    },
}

KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "cells": ("run_id", "cell_id"),
    "curve_points": ("run_id", "order_name", "seed", "fraction", "metric"),
    "head_importance": ("run_id", "layer", "head"),
    "layer_importance": ("run_id", "target", "metric"),
    "latency": ("run_id", "pruned_heads", "device", "precision", "batch_size"),
    "run_jobs": ("run_id", "job_id"),
    "outcomes": ("run_id", "model_key"),
    "checkpoints": ("ckpt_id",),
}

TABLES: tuple[str, ...] = tuple(COLUMNS)  # in dependency order: runs before the rows of a run
RUN_TABLES: tuple[str, ...] = (
    "cells", "curve_points", "head_importance", "layer_importance", "latency", "run_jobs",
    "outcomes",
)  # fmt: skip
CELL_ROW_TABLES: tuple[str, ...] = (
    "curve_points", "head_importance", "layer_importance", "outcomes",
)  # fmt: skip
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "curve_points": ("pruned_heads",),
    "layer_importance": ("layers",),
    "latency": ("pruned_heads",),
}


def quote(name: str) -> str:
    """A double-quoted SQL identifier (columns such as `drop` and `value` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the current version and the `meta` rows in an empty database."""
    for version in range(1, SCHEMA_VERSION + 1):
        con.execute(MIGRATIONS[version])
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [
            ["schema_version", str(SCHEMA_VERSION)],
            ["created_by", CREATED_BY],
            ["store_id", uuid.uuid4().hex[:12]],
            ["write_count", "0"],
        ],
    )


def migrate(con: duckdb.DuckDBPyConnection, from_version: int) -> None:
    """Apply the migrations after `from_version` (inside the caller's transaction)."""
    for version in range(from_version + 1, SCHEMA_VERSION + 1):
        con.execute(MIGRATIONS[version])
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])


def bump_write_count(con: duckdb.DuckDBPyConnection) -> None:
    """Advance the counter behind `ResultsStore.version_token` (call in every write)."""
    con.execute(
        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
        "WHERE key = 'write_count'"
    )


def _foreign(path: Path, why: str) -> MbpError:
    return MbpError(
        f"{path} is a DuckDB file but not an mbp results store ({why}): pass another --store "
        "(or MBP_STORE) path, or move this file away"
    )


def read_meta(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """The `meta` rows of an mbp store, or MbpError when the database is not one (foreign).

    Only reads: a foreign database is never modified.
    """
    try:
        rows = con.execute("SELECT key, value FROM meta").fetchall()
    except duckdb.CatalogException as exc:  # no meta table (listing tables is slow: only here)
        tables = sorted(
            str(row[0])
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        )
        shown = ", ".join(tables[:5]) or "no tables"
        raise _foreign(path, f"no mbp meta table; it has {shown}") from exc
    except duckdb.Error as exc:
        raise _foreign(path, "its meta table has no key/value columns") from exc
    meta = {str(k): str(v) for k, v in rows}
    if not meta.get("created_by", "").startswith("mbp"):
        raise _foreign(path, f"meta created_by is {meta.get('created_by')!r}, not mbp")
    try:
        int(meta["schema_version"])
    except (KeyError, ValueError) as exc:
        raise _foreign(path, f"bad schema_version {meta.get('schema_version')!r}") from exc
    return meta


def check_version(meta: dict[str, str], path: Path) -> int:
    """The store's schema version; MbpError if a newer mbp wrote it."""
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise MbpError(
            f"store {path} was written by a newer mbp (schema {version} > {SCHEMA_VERSION}): "
            "upgrade mbp or use another --store"
        )
    return version
