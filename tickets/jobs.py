"""Background work of a server process: the SLA monitor, auto-close and webhook delivery.

With several processes exactly one runs these jobs: the leader. On PostgreSQL it holds a
session-level advisory lock on a dedicated connection; on SQLite an exclusive ``flock`` on
``<database>.leader``. If the leader dies, its connection or file descriptor closes, the lock is
released and another process takes over at its next attempt (every ``LEADER_RETRY_SECONDS``).
The jobs are idempotent anyway: rows are re-read under a lock before they change.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from tickets import service, webhooks
from tickets.db import session_scope
from tickets.sla.monitor import check_due
from tickets.sla.tracking import SlaTracker

log = logging.getLogger("tickets.jobs")
ADVISORY_LOCK_KEY = 0x7472_6961  # "tria"
LEADER_RETRY_SECONDS = 2.0
WEBHOOK_INTERVAL_SECONDS = 0.5


class Leadership:
    """Who runs the background jobs among the processes sharing one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._lock_path = Path(f"{database}.leader") if database and database != ":memory:" else None

    @property
    def is_leader(self) -> bool:
        with self._lock:
            if self.postgres:
                return self._check()
            return self._check_file()

    def _check_file(self) -> bool:
        if self._lock_path is None or self._lock_file is not None:
            return True
        if time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + LEADER_RETRY_SECONDS
        handle = self._lock_path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        log.info("this process is now the leader: it runs the SLA monitor and background jobs")
        return True

    def _check(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the leader connection; will try to take over again")
                self._release()
        if time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + LEADER_RETRY_SECONDS
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        acquired = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        if acquired:
            self._connection = connection
            log.info("this process is now the leader: it runs the SLA monitor and background jobs")
            return True
        connection.close()
        return False

    def release(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the flock
            self._lock_file = None
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


class _Loop(threading.Thread):
    """Calls ``tick`` every ``interval`` seconds while this process leads, until stopped."""

    def __init__(self, name: str, interval: float, leadership: Leadership, tick: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.leadership = leadership
        self.tick = tick
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                if self.leadership.is_leader:
                    self.tick()
            except Exception:
                log.exception("%s failed; retrying on the next tick", self.name)


class BackgroundJobs:
    """Two loops, so a slow webhook receiver can never delay breach detection."""

    def __init__(
        self,
        engine: Engine,
        sla: SlaTracker,
        clock: Callable[[], dt.datetime],
        *,
        monitor_interval: float,
        auto_close_after: dt.timedelta,
        auto_close_interval: float,
    ) -> None:
        self.engine = engine
        self.sla = sla
        self.clock = clock
        self.monitor_interval = monitor_interval
        self.auto_close_after = auto_close_after
        self.auto_close_interval = auto_close_interval
        self.leadership = Leadership(engine)
        self.sla_moments = 0
        self._last_auto_close = 0.0
        self.loops = [
            _Loop("sla-monitor", monitor_interval, self.leadership, self._monitor_tick),
            _Loop("webhooks", WEBHOOK_INTERVAL_SECONDS, self.leadership, self._webhook_tick),
        ]

    def _monitor_tick(self) -> None:
        self.sla_moments += check_due(self.engine, self.sla, self.clock())
        if time.monotonic() - self._last_auto_close >= self.auto_close_interval:
            self._last_auto_close = time.monotonic()
            with session_scope(self.engine) as session:
                service.auto_close_due(session, self.clock(), self.auto_close_after, self.sla)

    def _webhook_tick(self) -> None:
        webhooks.dispatch(self.engine, self.clock())

    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    def stop(self) -> None:
        for loop in self.loops:
            loop.stopped.set()
        for loop in self.loops:
            loop.join(timeout=10)
        self.leadership.release()
