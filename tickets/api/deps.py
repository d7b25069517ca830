"""Typed dependencies: the session (commits at the request boundary), the caller, the clock, the model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session

from tickets.auth import Principal, authenticate
from tickets.config import Settings
from tickets.db import session_scope
from triage import TriageModel


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_model(request: Request) -> TriageModel:
    model: TriageModel = request.app.state.model
    return model


def get_now(request: Request) -> dt.datetime:
    """The request's clock; tests replace ``app.state.clock`` to move time without sleeping."""
    now: dt.datetime = request.app.state.clock()
    return now


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[TriageModel, Depends(get_model)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


def get_principal(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(session, authorization)


CallerDep = Annotated[Principal, Depends(get_principal)]


def role(*roles: str) -> object:
    """Dependency that admits only ``roles`` (401 without a token, 403 with the wrong one)."""

    def check(caller: CallerDep) -> Principal:
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
