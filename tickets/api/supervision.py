"""Routes for supervisors and integrations: SLA policies, reports, the live event stream, webhooks."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from tickets import reports, webhooks
from tickets.api.deps import NowDep, SettingsDep, SlaDep, role, transaction
from tickets.auth import Principal
from tickets.db import read_only
from tickets.errors import NotFound
from tickets.schemas import ErrorOut, Identifier, Text
from tickets.stream import StreamFilter
from triage.keywords import top_keywords

router = APIRouter(prefix="/api/v1", responses={c: {"model": ErrorOut} for c in (401, 403, 404, 409, 422)})
Supervisor = Annotated[Principal, role("supervisor", "admin")]
PolicyReader = Annotated[Principal, role("agent", "supervisor", "admin")]
Listener = Annotated[Principal, role("agent", "supervisor", "customer")]
Admin = Annotated[Principal, role("admin")]


@router.get("/me", tags=["auth"])
async def whoami(
    caller: Annotated[Principal, role("agent", "supervisor", "integration", "admin", "customer")],
) -> dict[str, Any]:
    """Who the token belongs to: its role, and the user or ticket it opens."""
    return {"role": caller.role, "user_id": caller.user_id, "ticket_id": caller.ticket_id}


@router.get("/sla/policies", tags=["sla"])
async def sla_policies(caller: PolicyReader, sla: SlaDep) -> dict[str, Any]:
    """The policies in force, in match order (the first that fits a ticket applies)."""
    return sla.policies.to_dict()


@router.get("/reports/sla", tags=["reports"], response_model=None)
async def sla_report(
    request: Request,
    caller: Supervisor,
    settings: SettingsDep,
    now: NowDep,
    start: Annotated[
        str | None, Query(alias="from", description="Date or ISO time; default: 7 days before 'to'")
    ] = None,
    end: Annotated[str | None, Query(alias="to", description="Date or ISO time (exclusive); default: now")] = None,
    group_by: Literal["channel", "queue", "agent", "day"] = "channel",
    format: Literal["json", "csv"] = "json",
) -> Any:
    """First-response compliance per group: with a target, met, breached, running, median and p90."""
    period = reports.period_from(start, end, now, settings.report_zone)

    def compute() -> list[dict[str, Any]]:
        with read_only(request.app.state.engine) as connection:
            return reports.sla_report(connection, period, group_by)

    rows = await asyncio.to_thread(compute)
    if format == "csv":
        return PlainTextResponse(reports.to_csv(rows, group_by), media_type="text/csv; charset=utf-8")
    return {"from": period.start.isoformat(), "to": period.end.isoformat(), "group_by": group_by, "groups": rows}


@router.get("/reports/kpi", tags=["reports"])
async def kpi_report(
    request: Request,
    caller: Supervisor,
    settings: SettingsDep,
    now: NowDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Auto-reply rate and acceptance, resolution, confirmed closure, reopen, CSAT, complaints, keywords."""
    period = reports.period_from(start, end, now, settings.report_zone)

    def compute() -> dict[str, Any]:
        with read_only(request.app.state.engine) as connection:
            keywords = top_keywords(reports.complaint_texts(connection, period), k=10)
            return reports.kpi_report(connection, period, keywords)

    return await asyncio.to_thread(compute)


@router.get("/events/stream", tags=["events"], response_class=StreamingResponse)
async def event_stream(
    request: Request,
    caller: Listener,
    queue: Annotated[str | None, Query(description="Comma-separated queue ids")] = None,
    type: Annotated[str | None, Query(description="Comma-separated types or prefixes: sla.breached,ticket.")] = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Same as the Last-Event-ID header")] = None,
) -> StreamingResponse:
    """Server-sent events as they happen (``sla.warning``, ``sla.breached``, ``ticket.*``).

    Reconnect with ``Last-Event-ID`` to be replayed what was missed. A customer token sees its own
    ticket's conversation and status only.
    """
    if caller.role == "customer":
        if ticket_id is not None and ticket_id != caller.ticket_id:
            raise NotFound(f"no ticket {ticket_id}")
        flt = StreamFilter(ticket_id=caller.ticket_id, customer_view=True)
    else:
        flt = StreamFilter(
            queues=frozenset(q for q in queue.split(",") if q) if queue else None,
            types=tuple(t for t in type.split(",") if t) if type else None,
            ticket_id=ticket_id,
        )
    since = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        request.app.state.hub.stream(flt, since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class WebhookIn(BaseModel):
    url: Text = Field(max_length=2000)
    event_types: list[Identifier | Literal["*", "sla.*", "ticket.*"]] = Field(min_length=1, max_length=50)
    secret: Text | None = Field(default=None, min_length=16, max_length=200)


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    active: bool
    created_at: dt.datetime
    secret: str | None = Field(default=None, description="Shown once, when the webhook is created")


@router.post("/webhooks", status_code=201, response_model=WebhookOut, tags=["webhooks"])
async def create_webhook(body: WebhookIn, request: Request, caller: Admin, now: NowDep) -> WebhookOut:
    """Deliver events of these types to ``url``, signed: ``X-Triage-Signature: sha256=HMAC(secret, body)``."""
    with transaction(request) as session:
        hook = webhooks.create(session, body.url, list(body.event_types), body.secret, now)
        return WebhookOut(**hook.model_dump(exclude={"secret"}), secret=hook.secret)


@router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
async def list_webhooks(request: Request, caller: Admin) -> list[WebhookOut]:
    with transaction(request) as session:
        return [WebhookOut(**h.model_dump(exclude={"secret"})) for h in webhooks.list_all(session)]


@router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"])
async def delete_webhook(webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, caller: Admin) -> None:
    """Deactivate a webhook; deliveries already queued are not sent any more."""
    with transaction(request) as session:
        webhooks.remove(session, webhook_id)
