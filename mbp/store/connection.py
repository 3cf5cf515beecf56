"""Short-lived DuckDB connections under a cross-process file lock (docs/STORE.md, "Concurrency").

Nobody keeps the store open: each read or write takes `<store>.lock`, opens a connection, runs ONE
transaction and closes. The lock is an OS lock (flock), so it dies with a killed process, and
DuckDB's write-ahead log rolls back whatever that process had not committed.

    with StoreFile(Path("results.duckdb"), read_only=False).write() as txn:
        txn.con.execute("UPDATE runs SET status = 'done'")
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import filelock

from mbp.errors import MbpError
from mbp.store import schema

LOCK_TIMEOUT_S = 120.0
# ad-hoc SQL (`ResultsStore.sql`) may not read or write other files (COPY, read_csv, ATTACH)
_SANDBOX = {"enable_external_access": False}
_POLL_S = 0.002  # a write holds the lock for tens of ms: poll often, not every 50 ms


@dataclass
class WriteTransaction:
    """The connection of one write transaction; `changed=False` keeps the version token as is."""

    con: duckdb.DuckDBPyConnection
    changed: bool = True


class StoreFile:
    """One store file: locking, opening (read-only or not), creating and checking it."""

    def __init__(self, path: Path, *, read_only: bool, lock_timeout: float = LOCK_TIMEOUT_S):
        self.path = path
        self.read_only = read_only
        self.lock_path = Path(str(path) + ".lock")
        self._lock = filelock.FileLock(
            str(self.lock_path), timeout=lock_timeout, poll_interval=_POLL_S
        )

    # -- state of the file -------------------------------------------------------------------

    def exists(self) -> bool:
        """True when the store file holds a database (a zero-byte file counts as absent)."""
        if self.path.is_dir():
            raise MbpError(
                f"store path {self.path} is a directory: pass a file path such as "
                f"{self.path / 'results.duckdb'} to --store (or MBP_STORE)"
            )
        return self.path.is_file() and self.path.stat().st_size > 0

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold `<store>.lock`. A read-only store in a directory we cannot write reads unlocked
        (nobody can write there either)."""
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        acquired = False
        try:
            self._lock.acquire()
            acquired = True
        except filelock.Timeout as exc:
            raise MbpError(
                f"store {self.path} stayed locked for {self._lock.timeout:.0f} s "
                f"({self.lock_path}): wait for the other mbp process to finish, or stop it"
            ) from exc
        except OSError as exc:
            if not self.read_only:
                raise MbpError(
                    f"cannot create the lock file {self.lock_path} ({exc.strerror}): make its "
                    "directory writable or pass another --store"
                ) from exc
        try:
            yield
        finally:
            if acquired:
                self._lock.release()

    # -- connections ---------------------------------------------------------------------------

    def _connect(self, *, read_only: bool, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
        config = dict(_SANDBOX) if sandbox else {}
        try:
            return duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "not a valid DuckDB database file" in message:
                raise MbpError(
                    f"{self.path} is not a DuckDB file: pass another --store (or MBP_STORE) "
                    "path, or move this file away"
                ) from exc
            if "lock" in message.lower():
                raise MbpError(
                    f"store {self.path} is open in another program ({message}): close it there "
                    "(mbp itself never keeps the file open) and retry"
                ) from exc
            raise MbpError(
                f"cannot open store {self.path} ({message}): check the file or pass another --store"
            ) from exc

    def _create(self) -> None:
        """Create the store atomically: build it under a temporary name, then rename it."""
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.creating")
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.begin()
                schema.create_schema(con)
                con.commit()
            finally:
                con.close()
            # A log left by a deleted store would be replayed onto the new file.
            Path(str(self.path) + ".wal").unlink(missing_ok=True)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)

    def check(self) -> None:
        """Fail on a foreign file or a newer schema; upgrade an older one (writable stores)."""
        if not self.exists():  # nothing to check, and no lock file for a read-only store
            return
        with self.locked():
            if not self.exists():
                return
            con = self._connect(read_only=True)
            try:
                version = schema.check_version(schema.read_meta(con, self.path), self.path)
            finally:
                con.close()
            if version < schema.SCHEMA_VERSION and self.read_only:
                raise MbpError(
                    f"store {self.path} has schema {version} < {schema.SCHEMA_VERSION}: open it "
                    "once without read-only (any mbp command) to upgrade it"
                )
            if version < schema.SCHEMA_VERSION:
                con = self._connect(read_only=False)
                try:
                    con.begin()
                    schema.migrate(con, version)
                    con.commit()
                finally:
                    con.close()

    def _open_checked(self, *, read_only: bool, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the file and check it is an mbp store of the current schema version."""
        con = self._connect(read_only=read_only, sandbox=sandbox)
        try:
            version = schema.check_version(schema.read_meta(con, self.path), self.path)
        except BaseException:
            con.close()
            raise
        if version < schema.SCHEMA_VERSION:
            con.close()
            raise MbpError(
                f"store {self.path} has schema {version} < {schema.SCHEMA_VERSION}: open it once "
                "without read-only (any mbp command) to upgrade it"
            )
        return con

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self, *, sandbox: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection inside one transaction (an empty in-memory store when the
        file does not exist yet; then no lock file is created either)."""
        if not self.exists():  # creation is an atomic rename, so this needs no lock
            with _transaction(_empty_store(sandbox)) as con:
                yield con
            return
        with self.locked():
            con = self._open_checked(read_only=True, sandbox=sandbox) if self.exists() else None
            with _transaction(con or _empty_store(sandbox)) as con:
                yield con

    @contextlib.contextmanager
    def write(self, action: str = "write to it") -> Iterator[WriteTransaction]:
        """A writable connection inside one transaction; creates the store when absent."""
        if self.read_only:
            raise MbpError(
                f"store {self.path} is open read-only (read_only=True, e.g. the dashboard's demo "
                f"mode): open it without read_only to {action}"
            )
        with self.locked():
            if not self.exists():
                self._create()
            txn = WriteTransaction(self._open_checked(read_only=False))
            with _transaction(txn.con) as con:
                yield txn
                if txn.changed:
                    schema.bump_write_count(con)


def _empty_store(sandbox: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory store with every table and no rows: what reading an absent store sees."""
    con = duckdb.connect(":memory:", config=dict(_SANDBOX) if sandbox else {})
    schema.create_schema(con)
    return con


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT (ROLLBACK on any exception), then close the connection."""
    try:
        con.begin()
        try:
            yield con
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            raise
        con.commit()
    finally:
        con.close()
