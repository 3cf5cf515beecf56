"""Where mbp keeps things: the model/tokenisation cache, the data root and the results store.

Each location can be set by an environment variable and, where the CLI offers it, a flag:
    MBP_CACHE     converted models, tokenised datasets, fine-tuned checkpoints
    MBP_DATA_DIR  a local data root laid out like ../shared/data (glue/<TASK>/, xnli/<split>/)
    MBP_STORE     the DuckDB results store file
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "mbp"


def cache_dir() -> Path:
    """The cache root (created on demand): `$MBP_CACHE` or the user's cache dir."""
    path = Path(os.environ.get("MBP_CACHE") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The local data root: an explicit argument, else `$MBP_DATA_DIR`, else None (use the hub)."""
    value = explicit or os.environ.get("MBP_DATA_DIR")
    return Path(value).expanduser() if value else None


def store_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The results store file: an explicit argument, else `$MBP_STORE`, else the user's data dir."""
    value = explicit or os.environ.get("MBP_STORE")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "results.duckdb"
