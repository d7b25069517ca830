"""Database engine, sessions and schema checks for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and every transaction starts
with ``BEGIN IMMEDIATE``: a request that reads a ticket and then changes it holds the write lock
from the start, so two writers can never interleave (no lost updates, no lock-upgrade deadlock).
On PostgreSQL the same guarantee comes from ``SELECT ... FOR UPDATE`` on the ticket row.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Insert, Select, Table, create_engine, event, func, insert, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session

T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, **{"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True, **kwargs})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints run in the background (WalCheckpointer); the commit path only checkpoints
        # if the log grows past ~40 MB, so a request never waits for one in normal operation.
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for single-statement reads: no transaction, so no write lock and no commit."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


log = logging.getLogger("tickets.db")
AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_SECONDS = 1.0


class WalCheckpointer(threading.Thread):
    """Moves SQLite's WAL checkpoints off the commit path: a PASSIVE checkpoint every second."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="wal-checkpoint", daemon=True)
        self.engine = engine
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(CHECKPOINT_SECONDS):
            try:
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception as exc:  # a busy database: the next tick tries again
                log.debug("WAL checkpoint skipped: %s", exc)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


class ReadConnection:
    """One long-lived autocommit connection for the single-statement reads of every request
    (the token lookup): no pool checkout, no isolation-level switch and reset, no pre-ping per
    request (about 60 µs of the ~85 µs a lookup through ``read_only`` costs on SQLite).

    Nothing is cached but the connection: each statement runs in its own implicit transaction
    and sees every commit made before it, so a revoked token fails on the very next request.
    It is used by one caller at a time; a caller that finds it busy (another thread) simply
    takes a pooled connection, so nobody waits. A connection the driver reports broken is
    replaced, and an idempotent read is retried once on the new one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def execute_read(self, read: Callable[[Connection], T]) -> T:
        """``read(connection)``: one read, on the long-lived connection when it is free."""
        if not self._lock.acquire(blocking=False):
            with read_only(self.engine) as connection:
                return read(connection)
        try:
            try:
                return self._read(read)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
            return self._read(read)  # the server dropped the connection: once more on a new one
        finally:
            self._lock.release()

    def _read(self, read: Callable[[Connection], T]) -> T:
        try:
            return read(self._connect())
        except DBAPIError:
            self._drop()
            raise

    def _connect(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._drop()
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(DBAPIError):  # already broken: nothing more to release
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def insert_returning_ids(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with multi-row statements; return their new ids in the order of ``rows``.

    PostgreSQL: ``INSERT ... RETURNING`` with ``sort_by_parameter_order`` (SQLAlchemy's
    "insertmanyvalues" orders the rows by a sentinel, so ids match parameters). SQLite does not
    promise an order for RETURNING rows (SQLAlchemy would fall back to one statement per row), but
    every transaction here holds the write lock from ``BEGIN IMMEDIATE``, so the next ids are
    known: ``max(id) + 1`` onwards, exactly what SQLite itself would assign. Should a writer ever
    slip in between (a transaction opened without ``BEGIN IMMEDIATE``), the insert fails on the
    primary key or the stale snapshot instead of mislabelling rows.
    """
    if not rows:
        return []
    max_id, plain, returning = _bulk_statements(table)
    if connection.dialect.name == "sqlite":
        first = int(connection.execute(max_id).scalar() or 0) + 1
        ids = list(range(first, first + len(rows)))
        connection.execute(plain, [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
        return ids
    return [int(row_id) for row_id in connection.execute(returning, rows).scalars()]


@functools.cache
def _bulk_statements(table: Table) -> tuple[Select[tuple[Any]], Insert, ReturningInsert[tuple[Any]]]:
    """Built once per table: constructing a statement costs about as much as running it for a row."""
    return (
        select(func.max(table.c.id)),
        insert(table),
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
    )


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()
