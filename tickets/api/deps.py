"""Typed dependencies: the caller (with an explicit role check), settings, clock, model, transaction.

Handlers are ``async def`` and do their database work in one synchronous ``transaction`` block
with no ``await`` inside. A request's work is sub-millisecond CPU plus a local database, so
running it on the event loop is faster than hopping to a worker thread; and because nothing in
the block yields to the loop, two requests of one process can never interleave inside a
transaction (which on PostgreSQL could deadlock on a row lock held by a suspended request).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session

from tickets.auth import ANONYMOUS, Principal, authenticate
from tickets.config import Settings
from tickets.db import read_only, session_scope
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


async def get_principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization:
        return ANONYMOUS
    with read_only(request.app.state.engine) as connection:
        return authenticate(connection, authorization)


CallerDep = Annotated[Principal, Depends(get_principal)]


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
