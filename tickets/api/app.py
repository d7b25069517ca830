"""The FastAPI application: wiring, error rendering, body-size limit, background jobs, health and metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickets import service
from tickets.api import pages, routes, supervision
from tickets.api.deps import MetricsReader
from tickets.api.ratelimit import RateLimiter
from tickets.batching import InquiryWriter
from tickets.config import Settings, get_settings
from tickets.db import (
    ReadConnection,
    WalCheckpointer,
    current_revision,
    head_revision,
    is_empty,
    make_engine,
    read_only,
    session_scope,
    upgrade,
)
from tickets.errors import DomainError, RateLimited, SchemaOutOfDate
from tickets.jobs import BackgroundJobs
from tickets.metrics import Metrics
from tickets.sla.policy import load_policies
from tickets.sla.tracking import SlaTracker
from tickets.stream import EventHub
from triage import EmptyTextError, TriageModel, load_model

log = logging.getLogger("tickets")
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ())]
    where = loc[0] if loc else ""
    field = ".".join(loc[1:] if where in ("body", "query", "path", "header") else loc) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "request body is not valid JSON", None
    if where == "body" and field is None and kind == "missing":
        return "request body is missing: send a JSON object with Content-Type: application/json", None
    if where == "body" and field is None and kind in ("model_attributes_type", "dict_type"):
        return "request body must be a JSON object sent with Content-Type: application/json", None
    if kind == "extra_forbidden":
        return f"unknown field '{field}'", field
    message = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
    return (f"{field}: {message}" if field else message), field


class BodySizeLimit:
    """413 for bodies over the limit, whether or not the client sent Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body here, at most max_bytes, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


def prepare_database(engine: Engine, url: str, *, upgrade_schema: bool) -> None:
    """Create an empty database; refuse an out-of-date one unless asked to upgrade it."""
    if is_empty(engine):
        upgrade(url)
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        if not upgrade_schema:
            raise SchemaOutOfDate(
                f"database schema is at revision {current}, this version needs {head}: "
                "run `triage db upgrade` first (or start with `triage serve --upgrade-db`)"
            )
        upgrade(url)


def run_auto_close(app: FastAPI) -> int:
    settings: Settings = app.state.settings
    with session_scope(app.state.engine) as session:
        after = dt.timedelta(hours=settings.auto_close_after_hours)
        return service.auto_close_due(session, app.state.clock(), after, app.state.sla)


def create_app(
    settings: Settings | None = None,
    *,
    model: TriageModel | None = None,
    clock: Clock = utc_now,
    upgrade_schema: bool = False,
    run_jobs: bool = True,
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        prepare_database(engine, settings.database_url, upgrade_schema=upgrade_schema)
        app.state.engine = engine
        app.state.model = model or load_model(settings.model_dir)
        # The model's vocabulary and caches live as long as the process: move them out of the
        # garbage collector's generations so full collections do not walk them under load.
        gc.collect()
        gc.freeze()
        with session_scope(engine) as session:
            service.seed_queues(session, app.state.model)
        jobs = BackgroundJobs(
            engine,
            app.state.sla,
            app.state.clock,
            monitor_interval=settings.sla_monitor_interval_seconds,
            auto_close_after=dt.timedelta(hours=settings.auto_close_after_hours),
            auto_close_interval=settings.job_interval_seconds,
        )
        app.state.jobs = jobs
        app.state.hub = EventHub(engine)
        app.state.reader = ReadConnection(engine)
        app.state.inquiries = InquiryWriter(engine, app.state.sla, metrics=app.state.metrics)
        await app.state.hub.start()
        if run_jobs:
            jobs.start()
        app.state.inquiries.start()
        checkpointer = WalCheckpointer(engine) if engine.dialect.name == "sqlite" else None
        if checkpointer:
            checkpointer.start()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.inquiries.stop)
            if checkpointer:
                await asyncio.to_thread(checkpointer.stop)
            await app.state.hub.stop()
            if run_jobs:
                jobs.stop()
            app.state.reader.close()
            engine.dispose()

    app = FastAPI(
        title="Triage Desk API",
        version="1.0.0",
        description="Customer-service ticketing with Chinese smart triage. Errors are "
        '`{"error": {"code", "message", "field"?}}`.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.sla = SlaTracker(load_policies(settings.sla_policy_file))
    app.state.metrics = Metrics()
    app.state.rate_limiter = RateLimiter(settings.anonymous_inquiries_per_minute, settings.anonymous_burst)
    app.include_router(routes.router)
    app.include_router(supervision.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.WEB), name="static")
    _install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.state.metrics.install(app)

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> dict[str, Any]:
        with read_only(request.app.state.engine) as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "model_version": request.app.state.model.version}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics(request: Request, caller: MetricsReader) -> str:
        return str(request.app.state.metrics.render())

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(exc.status, exc.code, exc.message, exc.field, headers)

    @app.exception_handler(EmptyTextError)
    async def empty_text(_request: Request, exc: EmptyTextError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc), "text")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = _validation_message(exc)
        return error_response(422, "invalid_input", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's own body parser: invalid UTF-8, JSON nested too deep...
            return error_response(422, "invalid_input", "request body could not be parsed as UTF-8 JSON")
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
