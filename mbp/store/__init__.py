"""The DuckDB results store (docs/STORE.md): `ResultsStore`, Parquet export/import, the schema.

from mbp.store import ResultsStore
store = ResultsStore()            # --store, else $MBP_STORE, else the user data dir
store.curve_points(model="e5-small", task="xnli", lang="en")
"""

from mbp.store.results_store import ResultsStore, RunKind, RunStatus
from mbp.store.schema import SCHEMA_VERSION, TABLES
from mbp.store.transfer import export_store, import_into

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "ResultsStore",
    "RunKind",
    "RunStatus",
    "export_store",
    "import_into",
]
