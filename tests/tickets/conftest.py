"""Shared fixtures for the ticket system: a fresh database per test (SQLite and PostgreSQL), a real
uvicorn server on a loopback port, a controllable clock, and small factories."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from tickets.api.app import create_app
from tickets.auth import create_user
from tickets.config import Settings
from tickets.db import make_engine, session_scope, upgrade
from triage import TriageModel

PG_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def _postgres_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=2):
            return None
    except Exception as exc:  # any failure means: not available here
        return f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set TRIAGE_TEST_POSTGRES_URL"


POSTGRES_MISSING = _postgres_reason()


def _fresh_postgres() -> tuple[str, str]:
    import psycopg

    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """A new database at the schema's head: a SQLite file in ``folder``, or a PostgreSQL database
    dropped afterwards (the test is skipped, saying why, where PostgreSQL is absent)."""
    if backend == "sqlite":
        url = f"sqlite:///{folder}/triage.db"
        upgrade(url)
        yield url
        return
    if POSTGRES_MISSING:
        pytest.skip(POSTGRES_MISSING)
    url, name = _fresh_postgres()
    try:
        upgrade(url)
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, migrated, empty database for each test, on each backend."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@dataclass
class Clock:
    """Real time by default; ``freeze``/``advance`` move it for tests of time-based rules."""

    frozen: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.frozen or dt.datetime.now(dt.UTC)

    def freeze(self, at: dt.datetime = T0) -> None:
        self.frozen = at

    def advance(self, **delta: float) -> None:
        self.frozen = self() + dt.timedelta(**delta)


def make_token(engine: Engine, role: str, name: str | None = None) -> str:
    with session_scope(engine) as session:
        _, token = create_user(session, name or f"{role}-{uuid.uuid4().hex[:6]}", role, dt.datetime.now(dt.UTC))
    return token


@dataclass
class LiveServer:
    """The real application behind a real uvicorn on a free loopback port, in a background thread."""

    base_url: str
    app: Any
    engine: Engine
    clock: Clock
    server: uvicorn.Server
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)

    def token(self, role: str) -> str:
        """One token per role, created on first use."""
        if role not in self.tokens:
            self.tokens[role] = make_token(self.engine, role)
        return self.tokens[role]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(database_url: str, model: TriageModel, *, run_jobs: bool = False, **settings: Any) -> LiveServer:
    clock = Clock()
    config_settings = Settings(database_url=database_url, **settings)
    app = create_app(config_settings, model=model, clock=clock, run_jobs=run_jobs)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", app, app.state.engine, clock, server, thread)


@pytest.fixture
def live(database_url: str, model: TriageModel) -> Iterator[LiveServer]:
    server = start_server(database_url, model)
    yield server
    server.stop()
