"""Typed dependencies: the caller (with an explicit role check), settings, clock, model, transaction.

Handlers are ``async def`` and do their database work in one synchronous ``transaction`` block
with no ``await`` inside. A request's work is sub-millisecond CPU plus a local database, so
running it on the event loop is faster than hopping to a worker thread; and because nothing in
the block yields to the loop, two requests of one process can never interleave inside a
transaction (which on PostgreSQL could deadlock on a row lock held by a suspended request).
New inquiries are the exception: they only insert rows, and ``POST /inquiries`` awaits the
group-commit writer (``tickets.batching``), whose thread stores the inquiries of many requests in
one transaction.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from sqlmodel import Session

from tickets.auth import ANONYMOUS, Principal, authenticate
from tickets.batching import InquiryWriter
from tickets.config import Settings
from tickets.db import ReadConnection, session_scope
from tickets.sla.tracking import SlaTracker
from triage import TriageModel


def transaction(request: Request) -> AbstractContextManager[Session]:
    """A unit of work: commits when the block ends normally, rolls back on any error."""
    return session_scope(request.app.state.engine)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_model(request: Request) -> TriageModel:
    model: TriageModel = request.app.state.model
    return model


async def get_now(request: Request) -> dt.datetime:
    """The request's clock; tests replace ``app.state.clock`` to move time without sleeping."""
    now: dt.datetime = request.app.state.clock()
    return now


async def get_sla(request: Request) -> SlaTracker:
    sla: SlaTracker = request.app.state.sla
    return sla


SettingsDep = Annotated[Settings, Depends(get_settings)]
SlaDep = Annotated[SlaTracker, Depends(get_sla)]
ModelDep = Annotated[TriageModel, Depends(get_model)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


class BearerCaller(SecurityBase):
    """The caller of a request, from ``Authorization: Bearer <token>`` (no header: anonymous).

    Documented in OpenAPI as bearer authentication. The header is read from the request directly:
    FastAPI's generic header parameter re-inspects its type annotation on every request, which
    costs about as much as the token lookup itself. The token is looked up on every request (nothing is
    cached), so a revoked token fails on the very next one.
    """

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            description="A staff token (agent, supervisor, integration, admin) or a ticket's customer token; "
            "anonymous callers may only send widget inquiries and read /healthz"
        )
        self.scheme_name = "bearer"

    async def __call__(self, request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        if not authorization:
            return ANONYMOUS
        reader: ReadConnection = request.app.state.reader
        return reader.execute_read(lambda connection: authenticate(connection, authorization))


get_principal = BearerCaller()
CallerDep = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class InquiryDesk:
    """What the inquiry route needs besides its body and caller, as one dependency.

    ``POST /inquiries`` is the hot path (hundreds of requests a second on one process), and
    FastAPI spends some 20 µs solving each dependency of a request: one here instead of four.
    """

    model: TriageModel
    settings: Settings
    writer: InquiryWriter
    now: dt.datetime


async def get_inquiry_desk(request: Request) -> InquiryDesk:
    state = request.app.state
    return InquiryDesk(state.model, state.settings, state.inquiries, state.clock())


InquiryDeskDep = Annotated[InquiryDesk, Depends(get_inquiry_desk)]


def role(*roles: str) -> object:
    """Dependency that admits only ``roles`` (401 without a token, 403 with the wrong one)."""

    async def check(caller: CallerDep) -> Principal:
        return caller.require(*roles)

    return Depends(check)


Agent = Annotated[Principal, role("agent")]
Staff = Annotated[Principal, role("agent", "supervisor")]
StaffOrCustomer = Annotated[Principal, role("agent", "supervisor", "customer")]
MessageAuthor = Annotated[Principal, role("agent", "customer", "integration")]
Customer = Annotated[Principal, role("customer")]
TriageCaller = Annotated[Principal, role("agent", "integration")]
Admin = Annotated[Principal, role("admin")]
Reporter = Annotated[Principal, role("supervisor", "admin")]
MetricsReader = Annotated[Principal, role("supervisor", "admin", "integration")]
