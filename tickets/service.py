"""Ticket services: every use case the API offers, as plain functions of (session, caller, input, now).

Services ``flush`` but never commit: the request boundary owns the transaction, so a failed
request leaves nothing half-written. Each write starts by locking the ticket row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from tickets import lifecycle
from tickets.auth import CUSTOMER_PREFIX, Principal, hash_token, new_token
from tickets.db import insert_returning_ids
from tickets.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from tickets.lifecycle import SYSTEM, Action, Actor, Status
from tickets.models import (
    Event,
    Message,
    Queue,
    Ticket,
    TriageCorrection,
    customers_table,
    messages_table,
    tickets_table,
)
from tickets.sla.tracking import SlaChange, SlaTracker
from triage import Decision, TriageModel
from triage.ack import is_acknowledgement

MAX_ESCALATION = 2
NEW_CUSTOMER_TIER = "standard"
_C = customers_table.c
_CUSTOMERS_BY_ID = sql_select(_C.id, _C.tier).where(_C.id.in_(bindparam("ids", expanding=True)))
_CUSTOMERS_BY_EXTERNAL_ID = sql_select(_C.id, _C.external_id, _C.tier).where(
    _C.external_id.in_(bindparam("keys", expanding=True))
)
SUBJECT_CHARS = 80


@dataclass(frozen=True)
class CustomerInfo:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class NewInquiry:
    channel: str
    text: str
    customer: CustomerInfo
    trusted_identity: bool
    """True when ``customer.external_id`` was vouched for (an integration, or a signed widget identity)."""
    existing_customer_id: int | None = None
    """Set when the caller already holds a customer token: the new ticket belongs to the same customer."""


@dataclass(frozen=True)
class PreparedInquiry:
    """An inquiry that passed its checks and was classified: everything but the database ids.

    Built in the request (``prepare_inquiry``, no database), stored by ``store_inquiries``, alone
    or together with others in one transaction.
    """

    caller: Principal
    inquiry: NewInquiry
    now: dt.datetime
    decision: Decision
    auto_reply: bool
    customer_token: str

    @property
    def status(self) -> Status:
        return Status.AUTO_REPLIED if self.auto_reply else Status.OPEN


@dataclass(frozen=True)
class CreatedInquiry:
    ticket_id: int
    status: str
    customer_token: str
    decision: Decision
    auto_reply_answer: str | None


def seed_queues(session: Session, model: TriageModel) -> None:
    """Make the queues table match the model's taxonomy (names may change; ids are stable)."""
    existing = {q.id: q for q in session.exec(select(Queue)).all()}
    for queue in model.taxonomy.queues.values():
        row = existing.get(queue.id) or Queue(id=queue.id, name=queue.name)
        row.name = queue.name
        session.add(row)


def _hand_over(session: Session, ticket: Ticket, sla: SlaTracker, now: dt.datetime) -> None:
    """The ticket reaches a human queue: its SLA clocks start (once; a reopen does not restart them)."""
    if ticket.handed_over_at is None:
        ticket.handed_over_at = now
    lifecycle.record_sla(session, ticket, sla, sla.hand_over(ticket, now))


def create_inquiry(
    session: Session,
    model: TriageModel,
    caller: Principal,
    inquiry: NewInquiry,
    now: dt.datetime,
    sla: SlaTracker,
) -> CreatedInquiry:
    """Classify, store the ticket with its first message and audit events, auto-reply or queue it."""
    return store_inquiries(session, sla, [prepare_inquiry(model, caller, inquiry, now)])[0]


def prepare_inquiry(model: TriageModel, caller: Principal, inquiry: NewInquiry, now: dt.datetime) -> PreparedInquiry:
    """Check who may send this inquiry and classify it; touches no database.

    Everything that can refuse an inquiry happens here, so an inquiry that reaches
    ``store_inquiries`` is one the database should accept.
    """
    if inquiry.channel == "phone" and caller.role == "anonymous":
        raise Unauthorized("phone inquiries need the call-centre integration's token (Authorization: Bearer ...)")
    if inquiry.channel == "phone" and caller.role not in ("integration", "admin"):
        raise Forbidden("phone inquiries are reported by the call-centre integration (an 'integration' token)")
    decision = model.classify(inquiry.text)
    # A caller on the line is waiting for a person: phone never gets an FAQ auto-reply.
    auto_reply = decision.auto_reply and inquiry.channel != "phone"
    return PreparedInquiry(caller, inquiry, now, decision, auto_reply, new_token(CUSTOMER_PREFIX))


def store_inquiries(session: Session, sla: SlaTracker, batch: Sequence[PreparedInquiry]) -> list[CreatedInquiry]:
    """Store prepared inquiries (customers, tickets, messages, events), in the order given.

    The hot path of the service: one multi-row statement per table for the whole batch rather
    than ORM unit-of-work flushes, which cost several times more per row. The caller owns the
    transaction; a batch is all stored or, on any error, nothing of it is.
    """
    if not batch:
        return []
    session.flush()  # a direct caller's pending ORM changes, before the Core statements below
    connection = session.connection()
    customers = _resolve_customers(connection, batch)
    tickets: list[dict[str, Any]] = []
    sla_changes: list[list[SlaChange]] = []
    for prepared, (customer_id, tier) in zip(batch, customers, strict=True):
        decision = prepared.decision
        sla_columns, changes = sla.initial_columns(
            prepared.inquiry.channel,
            decision.queue,
            decision.priority,
            tier,
            prepared.now,
            handed_over=not prepared.auto_reply,
        )
        tickets.append(_ticket_row(prepared, customer_id, sla_columns))
        sla_changes.append(changes)
    ticket_ids = insert_returning_ids(connection, tickets_table, tickets)

    # The questions first (message i is inquiry i's), then the FAQ answers of the auto-replied ones.
    messages = [_message_row(ticket_ids[i], "customer", "text", p.inquiry.text, p.now) for i, p in enumerate(batch)]
    answered = [i for i, p in enumerate(batch) if p.auto_reply]
    messages += [
        _message_row(ticket_ids[i], "system", "auto_reply", batch[i].decision.answer or "", batch[i].now)
        for i in answered
    ]
    message_ids = insert_returning_ids(connection, messages_table, messages)
    answer_ids = dict(zip(answered, message_ids[len(batch) :], strict=True))

    events: list[dict[str, Any]] = []
    created: list[CreatedInquiry] = []
    for i, prepared in enumerate(batch):
        ticket_id, (customer_id, _), ticket = ticket_ids[i], customers[i], tickets[i]
        events += _inquiry_events(prepared, ticket_id, customer_id, message_ids[i], answer_ids.get(i))
        events += sla.event_rows(ticket_id, ticket["sla_policy"], sla_changes[i])
        answer = prepared.decision.answer if prepared.auto_reply else None
        created.append(
            CreatedInquiry(ticket_id, prepared.status.value, prepared.customer_token, prepared.decision, answer)
        )
    lifecycle.record_many(session, events)
    return created


def _resolve_customers(connection: Connection, batch: Sequence[PreparedInquiry]) -> list[tuple[int, str | None]]:
    """The customer id and tier of each inquiry: the caller's own, found by a vouched-for
    external id (its contact details updated), or a new customer (one per external id per batch)."""
    own_ids = {p.inquiry.existing_customer_id for p in batch if p.inquiry.existing_customer_id is not None}
    external = {key for p in batch if (key := _external_id(p))}
    tiers: dict[int, str] = {}
    found: dict[str, tuple[int, str]] = {}
    if own_ids:
        tiers = {row.id: row.tier for row in connection.execute(_CUSTOMERS_BY_ID, {"ids": sorted(own_ids)})}
    if external:
        found = {
            row.external_id: (row.id, row.tier)
            for row in connection.execute(_CUSTOMERS_BY_EXTERNAL_ID, {"keys": sorted(external)})
        }
    resolved: list[tuple[int, str | None] | int] = []  # an int is an index into ``new_rows``
    new_rows: list[dict[str, Any]] = []
    new_by_key: dict[str, int] = {}
    updates: dict[int, dict[str, str]] = {}
    for prepared in batch:
        inquiry = prepared.inquiry
        if inquiry.existing_customer_id is not None:
            resolved.append((inquiry.existing_customer_id, tiers.get(inquiry.existing_customer_id)))
            continue
        info, key = inquiry.customer, _external_id(prepared)
        given = {f: v for f in ("name", "phone", "email") if (v := getattr(info, f))}
        if key is not None and key in found:
            customer_id, tier = found[key]
            updates.setdefault(customer_id, {}).update(given)
            resolved.append((customer_id, tier))
        elif key is not None and key in new_by_key:
            new_rows[new_by_key[key]].update(given)
            resolved.append(new_by_key[key])
        else:
            if key is not None:
                new_by_key[key] = len(new_rows)
            resolved.append(len(new_rows))
            new_rows.append(
                {
                    "external_id": key,
                    "name": info.name,
                    "phone": info.phone,
                    "email": info.email,
                    "tier": NEW_CUSTOMER_TIER,
                    "created_at": prepared.now,
                }
            )
    for customer_id in sorted(updates):  # in id order, so two concurrent batches cannot deadlock
        if updates[customer_id]:
            connection.execute(
                update(customers_table).where(customers_table.c.id == customer_id).values(updates[customer_id])
            )
    new_ids = insert_returning_ids(connection, customers_table, new_rows)
    return [(new_ids[r], NEW_CUSTOMER_TIER) if isinstance(r, int) else r for r in resolved]


def _external_id(prepared: PreparedInquiry) -> str | None:
    """The external id to find or file the customer under: only a vouched-for one counts."""
    inquiry = prepared.inquiry
    if inquiry.existing_customer_id is None and inquiry.trusted_identity and inquiry.customer.external_id:
        return inquiry.customer.external_id
    return None


def _ticket_row(prepared: PreparedInquiry, customer_id: int, sla_columns: dict[str, Any]) -> dict[str, Any]:
    decision, now, text = prepared.decision, prepared.now, prepared.inquiry.text
    return {
        "customer_id": customer_id,
        "customer_token_hash": hash_token(prepared.customer_token),
        "channel": prepared.inquiry.channel,
        "status": prepared.status.value,
        "subject": " ".join(text.split())[:SUBJECT_CHARS],
        "intent": decision.intent,
        "queue": decision.queue,
        "priority": decision.priority,
        "confidence": decision.confidence,
        "faq_id": decision.faq_id,
        "auto_replied": prepared.auto_reply,
        "model_version": decision.model_version,
        "explanation": decision.explanation,
        "escalation_level": 0,
        "reopen_count": 0,
        "created_at": now,
        "updated_at": now,
        # Reaching a human queue starts the SLA clocks; an auto-reply does not.
        "handed_over_at": None if prepared.auto_reply else now,
        "first_response_at": None,
        "first_response_seconds": None,
        **sla_columns,
    }


def _inquiry_events(
    prepared: PreparedInquiry, ticket_id: int, customer_id: int, question_id: int, answer_id: int | None
) -> list[dict[str, Any]]:
    caller, decision, now = prepared.caller, prepared.decision, prepared.now
    author = Actor(caller.role, caller.user_id) if caller.role == "integration" else Actor("customer", customer_id)
    channel, status = prepared.inquiry.channel, prepared.status.value
    events = [
        lifecycle.event_row(ticket_id, "ticket.created", author, now, None, status, {"channel": channel}, question_id),
        lifecycle.event_row(
            ticket_id,
            "ticket.triaged",
            SYSTEM,
            now,
            details={
                "intent": decision.intent,
                "queue": decision.queue,
                "priority": decision.priority,
                "confidence": decision.confidence,
                "faq_id": decision.faq_id,
                "reason": decision.reason,
                "explanation": decision.explanation,
                "model_version": decision.model_version,
            },
        ),
    ]
    if prepared.auto_reply:
        events.append(
            lifecycle.event_row(
                ticket_id, "ticket.auto_replied", SYSTEM, now, details={"faq_id": decision.faq_id}, message_id=answer_id
            )
        )
    else:
        events.append(lifecycle.event_row(ticket_id, "ticket.queued", SYSTEM, now, details={"queue": decision.queue}))
    return events


def _message_row(ticket_id: int, author_type: str, kind: str, body: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "author_type": author_type,
        "author_id": None,
        "kind": kind,
        "body": body,
        "created_at": now,
    }


def _lock(session: Session, ticket_id: int) -> Ticket:
    ticket = session.exec(select(Ticket).where(Ticket.id == ticket_id).with_for_update()).first()
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


def get_visible(session: Session, caller: Principal, ticket_id: int, *, lock: bool = False) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise, so ids of others' tickets leak nothing."""
    ticket = _lock(session, ticket_id) if lock else session.get(Ticket, ticket_id)
    if ticket is None or not caller.may_see(ticket):
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


def messages_of(session: Session, ticket_id: int) -> Sequence[Message]:
    return session.exec(select(Message).where(Message.ticket_id == ticket_id).order_by(col(Message.id))).all()


def events_of(session: Session, ticket_id: int) -> Sequence[Event]:
    return session.exec(select(Event).where(Event.ticket_id == ticket_id).order_by(col(Event.id))).all()


def _take(session: Session, ticket: Ticket, caller: Principal, now: dt.datetime) -> None:
    """An agent acting on a ticket must hold it; an unassigned one is claimed on the way."""
    if ticket.assignee_id == caller.user_id:
        return
    if ticket.assignee_id is not None:
        raise Conflict(f"ticket {ticket.id} is held by another agent (user {ticket.assignee_id})")
    ticket.assignee_id = caller.user_id
    lifecycle.apply(session, ticket, Action.CLAIM, caller.actor, now, assignee_id=caller.user_id)


def claim(session: Session, caller: Principal, ticket_id: int, now: dt.datetime) -> Ticket:
    ticket = get_visible(session, caller, ticket_id, lock=True)
    if ticket.assignee_id == caller.user_id:
        return ticket
    if not lifecycle.allowed(Action.CLAIM, ticket.status):
        raise lifecycle.InvalidTransition(f"cannot claim a ticket whose status is '{ticket.status}'")
    _take(session, ticket, caller, now)
    session.flush()
    return ticket


def _person_responded(session: Session, ticket: Ticket, sla: SlaTracker, actor: Actor, now: dt.datetime) -> None:
    """A person's public reply (or a phone pick-up): stops the first- and next-response clocks."""
    first = ticket.first_response_at is None and ticket.handed_over_at is not None
    changes = sla.agent_responded(ticket, now)
    if first:
        ticket.first_response_at = now
        lifecycle.record(
            session,
            ticket,
            "ticket.first_response",
            actor,
            now,
            seconds=ticket.first_response_seconds,
            met=ticket.first_response_state != "breached",
        )
    lifecycle.record_sla(session, ticket, sla, changes)


def post_message(
    session: Session,
    caller: Principal,
    ticket_id: int,
    body: str,
    kind: str,
    now: dt.datetime,
    sla: SlaTracker,
) -> Message:
    """A message on a ticket: its customer's, its agent's reply, or the call centre's pick-up."""
    if kind == "call_answered" and caller.role != "integration":
        raise Forbidden("only the call-centre integration reports 'call_answered'")
    if caller.role == "integration":
        if kind != "call_answered":
            raise Forbidden("integrations post only {'kind': 'call_answered'} messages")
        ticket = _lock(session, ticket_id)
        if ticket.channel != "phone":
            raise InvalidInput("'call_answered' is only for phone tickets", field="kind")
        action, author_type = Action.CALL_ANSWERED, "integration"
    elif caller.role == "customer":
        ticket = get_visible(session, caller, ticket_id, lock=True)
        if ticket.status == Status.CLOSED:
            raise lifecycle.InvalidTransition("this ticket is closed; send a new inquiry instead")
        acknowledgement = is_acknowledgement(body)
        action = Action.CUSTOMER_ACK if acknowledgement else Action.CUSTOMER_REPLY
        author_type = "customer"
    elif caller.role == "agent":
        ticket = get_visible(session, caller, ticket_id, lock=True)
        if not lifecycle.allowed(Action.AGENT_REPLY, ticket.status):
            raise lifecycle.InvalidTransition(f"cannot reply to a ticket whose status is '{ticket.status}'")
        _take(session, ticket, caller, now)
        action, author_type = Action.AGENT_REPLY, "agent"
    else:
        raise Forbidden(f"role '{caller.role}' may not post messages; allowed: agent, customer, integration")
    if not lifecycle.allowed(action, ticket.status):
        raise lifecycle.InvalidTransition(f"cannot post this message on a ticket whose status is '{ticket.status}'")
    message = Message(
        ticket_id=ticket_id,
        author_type=author_type,
        author_id=caller.user_id if author_type != "customer" else None,
        kind=kind,
        body=body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    lifecycle.apply(session, ticket, action, caller.actor, now, sla=sla, message_id=message.id)
    if author_type == "customer":
        if ticket.status == Status.OPEN:
            _hand_over(session, ticket, sla, now)
        lifecycle.record_sla(session, ticket, sla, sla.customer_wrote(ticket, now, action is Action.CUSTOMER_ACK))
    else:
        _person_responded(session, ticket, sla, caller.actor, now)
    return message


def resolve(
    session: Session, caller: Principal, ticket_id: int, note: str | None, now: dt.datetime, sla: SlaTracker
) -> Ticket:
    ticket = get_visible(session, caller, ticket_id, lock=True)
    if not lifecycle.allowed(Action.RESOLVE, ticket.status):
        raise lifecycle.InvalidTransition(f"cannot resolve a ticket whose status is '{ticket.status}'")
    _take(session, ticket, caller, now)
    lifecycle.apply(session, ticket, Action.RESOLVE, caller.actor, now, sla=sla, note=note)
    session.flush()
    return ticket


def confirm(
    session: Session,
    caller: Principal,
    ticket_id: int,
    resolved: bool,
    rating: int | None,
    comment: str | None,
    now: dt.datetime,
    sla: SlaTracker,
) -> Ticket:
    ticket = get_visible(session, caller, ticket_id, lock=True)
    if resolved and ticket.status == Status.CLOSED and rating is not None and ticket.rating is None:
        # Rating later (or after an automatic close) is welcome; changing a given rating is not.
        ticket.rating, ticket.rating_comment = rating, comment
        lifecycle.record(session, ticket, "ticket.rated", caller.actor, now, rating=rating, comment=comment)
    elif resolved:
        lifecycle.apply(session, ticket, Action.CONFIRM, caller.actor, now, sla=sla, rating=rating, comment=comment)
        ticket.rating, ticket.rating_comment = rating, comment
    else:
        was_auto_replied = ticket.status == Status.AUTO_REPLIED
        lifecycle.apply(session, ticket, Action.REJECT, caller.actor, now, sla=sla, comment=comment)
        if was_auto_replied:
            # The FAQ did not settle it: hand over to the intent's human queue, clocks start now.
            _hand_over(session, ticket, sla, now)
            lifecycle.record(session, ticket, "ticket.handed_over", caller.actor, now, queue=ticket.queue)
    session.add(ticket)
    session.flush()
    return ticket


def escalate(session: Session, caller: Principal, ticket_id: int, reason: str, now: dt.datetime) -> Ticket:
    ticket = get_visible(session, caller, ticket_id, lock=True)
    if lifecycle.allowed(Action.ESCALATE, ticket.status) and ticket.escalation_level >= MAX_ESCALATION:
        raise Conflict(f"ticket {ticket_id} is already at the highest escalation level ({MAX_ESCALATION}, management)")
    ticket.escalation_level += 1
    lifecycle.apply(session, ticket, Action.ESCALATE, caller.actor, now, reason=reason, level=ticket.escalation_level)
    session.flush()
    return ticket


def reroute(
    session: Session,
    model: TriageModel,
    caller: Principal,
    ticket_id: int,
    queue: str | None,
    intent: str | None,
    now: dt.datetime,
) -> Ticket:
    if queue is None and intent is None:
        raise InvalidInput("give 'queue', 'intent' or both")
    if intent is not None and intent not in model.taxonomy.intents:
        raise InvalidInput(f"unknown intent '{intent}'; known: {', '.join(model.taxonomy.intents)}", field="intent")
    if queue is not None and session.get(Queue, queue) is None:
        known = ", ".join(q.id for q in session.exec(select(Queue)).all())
        raise InvalidInput(f"unknown queue '{queue}'; known: {known}", field="queue")
    ticket = get_visible(session, caller, ticket_id, lock=True)
    new_intent = intent or ticket.intent
    new_queue = queue or (model.taxonomy.queue_of(intent) if intent else ticket.queue)
    before = (ticket.intent, ticket.queue)
    lifecycle.apply(
        session,
        ticket,
        Action.REROUTE,
        caller.actor,
        now,
        from_intent=before[0],
        from_queue=before[1],
        intent=new_intent,
        queue=new_queue,
    )
    first = session.exec(
        select(Message)
        .where(Message.ticket_id == ticket_id, Message.author_type == "customer")
        .order_by(col(Message.id))
    ).first()
    assert caller.user_id is not None
    session.add(
        TriageCorrection(
            ticket_id=ticket_id,
            text=first.body if first else ticket.subject,
            predicted_intent=before[0],
            predicted_queue=before[1],
            corrected_intent=new_intent,
            corrected_queue=new_queue,
            user_id=caller.user_id,
            created_at=now,
        )
    )
    ticket.intent, ticket.queue = new_intent, new_queue
    session.add(ticket)
    session.flush()
    return ticket


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    queue: str | None = None
    assignee: int | None = None
    channel: str | None = None
    sla: str | None = None  # breached | at_risk


_NO_DUE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
_T = tickets_table.c
_CLOCK_STATES = (_T.first_response_state, _T.next_response_state, _T.resolution_state)


def _encode_cursor(sort: str, ticket: Ticket) -> str:
    if sort == "newest":
        return str(ticket.id)
    return f"{(ticket.sla_due_at or _NO_DUE).isoformat()}|{ticket.id}"


def _decode_cursor(sort: str, cursor: str) -> tuple[dt.datetime, int] | int:
    try:
        if sort == "newest":
            return int(cursor)
        due, _, ticket_id = cursor.partition("|")
        moment = dt.datetime.fromisoformat(due)
        if moment.tzinfo is None:
            raise ValueError
        return moment, int(ticket_id)
    except ValueError as exc:
        raise InvalidInput("cursor is not one this API returned; pass next_cursor unchanged", field="cursor") from exc


def list_tickets(
    session: Session, flt: TicketFilter, limit: int, cursor: str | None, sort: str = "sla"
) -> tuple[list[Ticket], str | None]:
    """Tickets matching ``flt``, keyset-paginated.

    ``sort="sla"`` (the default) puts the ticket closest to a breach first (running clocks by due
    time, then the rest); ``sort="newest"`` is newest first.
    """
    query = select(Ticket)
    if flt.status:
        query = query.where(Ticket.status == flt.status)
    if flt.queue:
        query = query.where(Ticket.queue == flt.queue)
    if flt.assignee is not None:
        query = query.where(Ticket.assignee_id == flt.assignee)
    if flt.channel:
        query = query.where(Ticket.channel == flt.channel)
    if flt.sla == "breached":
        query = query.where(_T.status != Status.CLOSED, or_(*(c == "breached" for c in _CLOCK_STATES)))
    elif flt.sla == "at_risk":
        query = query.where(_T.status != Status.CLOSED, or_(*(c == "warned" for c in _CLOCK_STATES)))
    if sort == "newest":
        if cursor is not None:
            query = query.where(col(Ticket.id) < _decode_cursor(sort, cursor))
        query = query.order_by(col(Ticket.id).desc())
    else:
        due = func.coalesce(_T.sla_due_at, _NO_DUE)
        if cursor is not None:
            decoded = _decode_cursor(sort, cursor)
            assert isinstance(decoded, tuple)
            query = query.where(or_(due > decoded[0], and_(due == decoded[0], _T.id > decoded[1])))
        query = query.order_by(due, _T.id)
    rows = list(session.exec(query.limit(limit + 1)).all())
    next_cursor = _encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def queue_counts(session: Session) -> list[dict[str, Any]]:
    """Per queue: tickets waiting for an agent, waiting for the customer, breached and at risk."""
    active = _T.status.in_((Status.OPEN, Status.PENDING_CUSTOMER, Status.RESOLVED))
    breached = or_(*(c == "breached" for c in _CLOCK_STATES))
    warned = or_(*(c == "warned" for c in _CLOCK_STATES))
    counted = session.connection().execute(
        sql_select(
            _T.queue,
            func.sum(case((_T.status == Status.OPEN, 1), else_=0)).label("open"),
            func.sum(case((_T.status == Status.PENDING_CUSTOMER, 1), else_=0)).label("pending_customer"),
            func.sum(case((breached, 1), else_=0)).label("breached"),
            func.sum(case((warned, 1), else_=0)).label("at_risk"),
        )
        .where(active)
        .group_by(_T.queue)
    )
    by_queue = {row.queue: row for row in counted}
    result = []
    for queue in session.exec(select(Queue).order_by(col(Queue.id))).all():
        row = by_queue.get(queue.id)
        counts = {
            k: int(getattr(row, k) or 0) if row else 0 for k in ("open", "pending_customer", "breached", "at_risk")
        }
        result.append({"id": queue.id, "name": queue.name, **counts})
    return result


def auto_close_due(session: Session, now: dt.datetime, after: dt.timedelta, sla: SlaTracker) -> int:
    """Close tickets the customer never answered, marked unconfirmed: resolved ones, and FAQ
    auto-replies nobody confirmed or rejected. Returns how many."""
    ids = session.exec(
        select(Ticket.id).where(
            or_(
                and_(_T.status == Status.RESOLVED, _T.resolved_at <= now - after),
                and_(_T.status == Status.AUTO_REPLIED, _T.updated_at <= now - after),
            )
        )
    ).all()
    closed = 0
    for ticket_id in ids:
        assert ticket_id is not None
        ticket = _lock(session, ticket_id)
        waiting_since = ticket.resolved_at if ticket.status == Status.RESOLVED else ticket.updated_at
        if (
            ticket.status not in (Status.RESOLVED, Status.AUTO_REPLIED)
            or not waiting_since
            or waiting_since > now - after
        ):
            continue  # the customer answered in the meantime
        lifecycle.apply(
            session, ticket, Action.AUTO_CLOSE, SYSTEM, now, sla=sla, waited_hours=after.total_seconds() / 3600
        )
        closed += 1
    session.flush()
    return closed


def corrections(session: Session) -> Sequence[TriageCorrection]:
    return session.exec(select(TriageCorrection).order_by(col(TriageCorrection.id))).all()


def count_tickets(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Ticket)).one())
