"""v1 routes: parse, check the role, call one service function, return a schema."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session

from tickets import service
from tickets.api.deps import (
    Agent,
    CallerDep,
    Customer,
    InquiryDeskDep,
    MessageAuthor,
    ModelDep,
    NowDep,
    SlaDep,
    Staff,
    StaffOrCustomer,
    TriageCaller,
    transaction,
)
from tickets.auth import Principal, identity_is_signed
from tickets.config import Settings
from tickets.errors import Forbidden, InvalidInput
from tickets.models import Ticket
from tickets.schemas import (
    AutoReplyOut,
    Channel,
    ConfirmIn,
    CorrectionOut,
    ErrorOut,
    EscalateIn,
    EventOut,
    InquiryIn,
    InquiryOut,
    MessageIn,
    MessageOut,
    QueueOut,
    RerouteIn,
    ResolveIn,
    SlaMetricOut,
    SlaOut,
    StatusName,
    TicketOut,
    TicketPage,
    TicketSummaryOut,
    TicketTriageOut,
    TriageIn,
    TriageOut,
    TriageResultOut,
)
from tickets.sla import tracking
from tickets.stream import CUSTOMER_TYPES
from triage import Decision

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422)}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns on PostgreSQL


def sla_out(ticket: Ticket, now: dt.datetime) -> SlaOut:
    def metric(name: str) -> SlaMetricOut:
        clock = tracking.read(ticket, name)
        running = clock.active and clock.due_at is not None
        return SlaMetricOut(
            state=clock.state.value if clock.state else "not_started",
            target_seconds=clock.target_seconds,
            started_at=clock.started_at,
            due_at=clock.due_at,
            seconds_left=round((clock.due_at - now).total_seconds(), 3) if running and clock.due_at else None,
        )

    return SlaOut(
        policy=ticket.sla_policy,
        first_response=metric("first_response"),
        next_response=metric("next_response"),
        resolution=metric("resolution"),
    )


def summary(ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "status": ticket.status,
        "channel": ticket.channel,
        "subject": ticket.subject,
        "triage": TicketTriageOut(
            intent=ticket.intent,
            queue=ticket.queue,
            priority=ticket.priority,
            confidence=ticket.confidence,
            faq_id=ticket.faq_id,
            model_version=ticket.model_version,
            explanation=ticket.explanation,
        ),
        "assignee_id": ticket.assignee_id,
        "escalation_level": ticket.escalation_level,
        "reopen_count": ticket.reopen_count,
        "rating": ticket.rating,
        "rating_comment": ticket.rating_comment,
        "close_reason": ticket.close_reason,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "first_response_at": ticket.first_response_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "sla": sla_out(ticket, now),
    }


def full(session: Session, ticket: Ticket, now: dt.datetime, caller: Principal | None = None) -> TicketOut:
    """The whole ticket; its customer sees the conversation and status, not the team's internals
    (notes, escalation reasons, triage explanation, SLA moments, staff ids), as on the stream."""
    assert ticket.id is not None
    out = TicketOut(
        **summary(ticket, now),
        messages=[MessageOut.model_validate(m, from_attributes=True) for m in service.messages_of(session, ticket.id)],
        events=[EventOut.model_validate(e, from_attributes=True) for e in service.events_of(session, ticket.id)],
    )
    if caller is None or caller.role != "customer":
        return out
    return out.model_copy(
        update={
            "assignee_id": None,
            "triage": out.triage.model_copy(update={"explanation": [], "confidence": 0.0, "model_version": ""}),
            "events": [
                e.model_copy(update={"details": {}, "actor_id": None}) for e in out.events if e.type in CUSTOMER_TYPES
            ],
            "messages": [m.model_copy(update={"author_id": None}) for m in out.messages],
        }
    )


def _triage_out(decision: Decision) -> TriageOut:
    return TriageOut(
        intent=decision.intent,
        queue=decision.queue,
        priority=decision.priority,
        confidence=decision.confidence,
        faq_id=decision.faq_id,
    )


def _client_address(request: Request, settings: Settings) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if settings.trust_forwarded_for and forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


@router.post("/inquiries", status_code=201, response_model=InquiryOut, tags=["inquiries"])
async def create_inquiry(
    body: InquiryIn,
    request: Request,
    caller: CallerDep,
    desk: InquiryDeskDep,
) -> InquiryOut:
    """A customer's message from the widget (anonymous), or from an integration (email, phone, web).

    Answered once the ticket is committed.
    """
    settings = desk.settings
    if caller.role in ("agent", "supervisor"):
        raise Forbidden("inquiries come from customers, the widget or an integration; agents reply to tickets")
    if caller.role == "anonymous":
        request.app.state.rate_limiter.hit(_client_address(request, settings))
    if len(body.text) > settings.max_text_chars:
        raise InvalidInput(f"'text' is longer than {settings.max_text_chars} characters", field="text")
    info = body.customer or None
    customer = service.CustomerInfo(**info.model_dump(exclude={"signature"})) if info else service.CustomerInfo()
    signed = info is not None and identity_is_signed(settings.widget_secret, info.external_id, info.signature)
    created = await desk.writer.create(
        desk.model,
        caller,
        service.NewInquiry(
            channel=body.channel,
            text=body.text,
            customer=customer,
            trusted_identity=caller.role in ("integration", "admin") or signed,
            existing_customer_id=caller.customer_id if caller.role == "customer" else None,
        ),
        desk.now,
    )
    return InquiryOut(
        ticket_id=created.ticket_id,
        status=created.status,  # type: ignore[arg-type]
        customer_token=created.customer_token,
        triage=_triage_out(created.decision),
        auto_reply=AutoReplyOut(faq_id=created.decision.faq_id or "", answer=created.auto_reply_answer)
        if created.auto_reply_answer is not None
        else None,
    )


@router.get("/tickets", response_model=TicketPage, tags=["tickets"])
async def list_tickets(
    request: Request,
    caller: Staff,
    now: NowDep,
    status: StatusName | None = None,
    queue: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    assignee: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    channel: Annotated[Channel | None, Query()] = None,
    sla: Annotated[Literal["breached", "at_risk"] | None, Query(description="Only breached / at-risk")] = None,
    sort: Annotated[Literal["sla", "newest"], Query(description="sla: closest to a breach first")] = "sla",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=80, description="next_cursor of the previous page")] = None,
) -> TicketPage:
    """Tickets matching the filters, the one closest to breaching its SLA first (``sort=newest``:
    newest first); follow ``next_cursor`` for the next page."""
    flt = service.TicketFilter(status=status, queue=queue, assignee=assignee, channel=channel, sla=sla)
    with transaction(request) as session:
        rows, next_cursor = service.list_tickets(session, flt, limit, cursor, sort)
        return TicketPage(items=[TicketSummaryOut(**summary(t, now)) for t in rows], next_cursor=next_cursor)


@router.get("/taxonomy", tags=["triage"])
async def taxonomy(caller: Staff, model: ModelDep) -> dict[str, Any]:
    """Intents, queues and FAQ answers of the model in use (for rerouting and inserting answers)."""
    return {**model.taxonomy.to_dict(), "model_version": model.version}


@router.get("/queues", response_model=list[QueueOut], tags=["tickets"])
async def list_queues(request: Request, caller: Staff) -> list[QueueOut]:
    """Each queue with its open, pending, breached and at-risk ticket counts."""
    with transaction(request) as session:
        return [QueueOut(**row) for row in service.queue_counts(session)]


TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="Ticket id")]


@router.get("/tickets/{ticket_id}", response_model=TicketOut, tags=["tickets"])
async def get_ticket(ticket_id: TicketId, request: Request, caller: StaffOrCustomer, now: NowDep) -> TicketOut:
    """The ticket with its messages, audit events and SLA state."""
    with transaction(request) as session:
        return full(session, service.get_visible(session, caller, ticket_id), now, caller)


@router.post("/tickets/{ticket_id}/claim", response_model=TicketOut, tags=["tickets"])
async def claim(ticket_id: TicketId, request: Request, caller: Agent, now: NowDep) -> TicketOut:
    """Assign the ticket to the calling agent; 409 if another agent holds it."""
    with transaction(request) as session:
        return full(session, service.claim(session, caller, ticket_id, now), now)


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=MessageOut, tags=["tickets"])
async def post_message(
    ticket_id: TicketId, body: MessageIn, request: Request, caller: MessageAuthor, now: NowDep, sla: SlaDep
) -> MessageOut:
    """Its agent's reply (claims an unassigned ticket), its customer's message, or a phone pick-up."""
    with transaction(request) as session:
        message = service.post_message(session, caller, ticket_id, body.body, body.kind, now, sla)
        return MessageOut.model_validate(message, from_attributes=True)


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketOut, tags=["tickets"])
async def resolve(
    ticket_id: TicketId,
    request: Request,
    caller: Agent,
    now: NowDep,
    sla: SlaDep,
    body: ResolveIn | None = None,
) -> TicketOut:
    """Mark it solved; the customer is asked to confirm."""
    with transaction(request) as session:
        ticket = service.resolve(session, caller, ticket_id, body.note if body else None, now, sla)
        return full(session, ticket, now)


@router.post("/tickets/{ticket_id}/confirm", response_model=TicketOut, tags=["tickets"])
async def confirm(
    ticket_id: TicketId, body: ConfirmIn, request: Request, caller: Customer, now: NowDep, sla: SlaDep
) -> TicketOut:
    """The customer says whether it is solved: closes it, or reopens it / hands it to a person."""
    if body.rating is not None and not body.resolved:
        raise InvalidInput("'rating' can only be given with resolved=true", field="rating")
    with transaction(request) as session:
        ticket = service.confirm(session, caller, ticket_id, body.resolved, body.rating, body.comment, now, sla)
        return full(session, ticket, now, caller)


@router.post("/tickets/{ticket_id}/escalate", response_model=TicketOut, tags=["tickets"])
async def escalate(ticket_id: TicketId, body: EscalateIn, request: Request, caller: Staff, now: NowDep) -> TicketOut:
    """Raise the escalation level: 0 department, 1 cross-department coordination group, 2 management."""
    with transaction(request) as session:
        return full(session, service.escalate(session, caller, ticket_id, body.reason, now), now)


@router.post("/tickets/{ticket_id}/reroute", response_model=TicketOut, tags=["tickets"])
async def reroute(
    ticket_id: TicketId,
    body: RerouteIn,
    request: Request,
    caller: Staff,
    model: ModelDep,
    now: NowDep,
) -> TicketOut:
    """Correct the triage; the correction is kept as labelled data (GET /api/v1/corrections)."""
    with transaction(request) as session:
        ticket = service.reroute(session, model, caller, ticket_id, body.queue, body.intent, now)
        return full(session, ticket, now)


@router.get("/corrections", response_model=list[CorrectionOut], tags=["training"])
async def list_corrections(request: Request, caller: Staff) -> list[CorrectionOut]:
    """Reroute corrections as training examples (``text``, ``label``): feed them to ``triage train``."""
    with transaction(request) as session:
        return [
            CorrectionOut(
                text=c.text,
                label=c.corrected_intent,
                predicted=c.predicted_intent,
                queue=c.corrected_queue,
                ticket_id=c.ticket_id,
                created_at=c.created_at,
            )
            for c in service.corrections(session)
        ]


@router.post("/triage", response_model=TriageResultOut, tags=["triage"])
async def triage_text(body: TriageIn, caller: TriageCaller, model: ModelDep) -> TriageResultOut:
    """Classify a text without creating a ticket."""
    decision = model.classify(body.text)
    return TriageResultOut(
        triage=_triage_out(decision),
        auto_reply=AutoReplyOut(faq_id=decision.faq_id, answer=decision.answer)
        if decision.auto_reply and decision.faq_id and decision.answer
        else None,
        explanation=decision.explanation,
        reason=decision.reason,
        model_version=decision.model_version,
    )
