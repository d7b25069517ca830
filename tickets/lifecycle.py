"""The ticket state machine: one table of allowed transitions, one function that applies them.

No other code sets ``ticket.status``. Every change writes an event to the audit trail with the
actor, the time, the status it moved from and to, and details.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlmodel import Session

from tickets.errors import InvalidTransition
from tickets.models import Ticket, events_table

if TYPE_CHECKING:
    from tickets.sla.tracking import SlaChange, SlaTracker


class Status(StrEnum):
    AUTO_REPLIED = "auto_replied"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    CLAIM = "claim"
    AGENT_REPLY = "agent_reply"
    CALL_ANSWERED = "call_answered"
    CUSTOMER_REPLY = "customer_reply"
    CUSTOMER_ACK = "customer_ack"  # 谢谢 / 好的: recorded, changes nothing
    RESOLVE = "resolve"
    CONFIRM = "confirm"
    REJECT = "reject"
    ESCALATE = "escalate"
    REROUTE = "reroute"
    AUTO_CLOSE = "auto_close"


S = Status
# (action, from) -> to. Anything missing is refused with 409.
TRANSITIONS: dict[tuple[Action, Status], Status] = {
    (Action.CLAIM, S.OPEN): S.OPEN,
    (Action.CLAIM, S.PENDING_CUSTOMER): S.PENDING_CUSTOMER,
    (Action.AGENT_REPLY, S.OPEN): S.PENDING_CUSTOMER,
    (Action.AGENT_REPLY, S.PENDING_CUSTOMER): S.PENDING_CUSTOMER,
    (Action.CALL_ANSWERED, S.OPEN): S.OPEN,
    (Action.CUSTOMER_REPLY, S.OPEN): S.OPEN,
    (Action.CUSTOMER_REPLY, S.PENDING_CUSTOMER): S.OPEN,
    (Action.CUSTOMER_REPLY, S.AUTO_REPLIED): S.OPEN,  # wrote more instead of confirming: hand over
    (Action.CUSTOMER_REPLY, S.RESOLVED): S.OPEN,  # wrote back about a resolved problem: reopen
    (Action.CUSTOMER_ACK, S.OPEN): S.OPEN,
    (Action.CUSTOMER_ACK, S.PENDING_CUSTOMER): S.PENDING_CUSTOMER,
    (Action.CUSTOMER_ACK, S.AUTO_REPLIED): S.AUTO_REPLIED,
    (Action.CUSTOMER_ACK, S.RESOLVED): S.RESOLVED,
    (Action.RESOLVE, S.OPEN): S.RESOLVED,
    (Action.RESOLVE, S.PENDING_CUSTOMER): S.RESOLVED,
    (Action.CONFIRM, S.RESOLVED): S.CLOSED,
    (Action.CONFIRM, S.AUTO_REPLIED): S.CLOSED,
    (Action.REJECT, S.RESOLVED): S.OPEN,
    (Action.REJECT, S.AUTO_REPLIED): S.OPEN,
    (Action.ESCALATE, S.OPEN): S.OPEN,
    (Action.ESCALATE, S.PENDING_CUSTOMER): S.PENDING_CUSTOMER,
    (Action.ESCALATE, S.RESOLVED): S.RESOLVED,
    (Action.REROUTE, S.AUTO_REPLIED): S.AUTO_REPLIED,
    (Action.REROUTE, S.OPEN): S.OPEN,
    (Action.REROUTE, S.PENDING_CUSTOMER): S.PENDING_CUSTOMER,
    (Action.AUTO_CLOSE, S.RESOLVED): S.CLOSED,
    (Action.AUTO_CLOSE, S.AUTO_REPLIED): S.CLOSED,
}

EVENT_TYPES: dict[Action, str] = {
    Action.CLAIM: "ticket.assigned",
    Action.AGENT_REPLY: "ticket.replied",
    Action.CALL_ANSWERED: "ticket.call_answered",
    Action.CUSTOMER_REPLY: "ticket.customer_replied",
    Action.CUSTOMER_ACK: "ticket.customer_replied",
    Action.RESOLVE: "ticket.resolved",
    Action.CONFIRM: "ticket.closed",
    Action.REJECT: "ticket.reopened",
    Action.ESCALATE: "ticket.escalated",
    Action.REROUTE: "ticket.rerouted",
    Action.AUTO_CLOSE: "ticket.closed",
}


@dataclass(frozen=True)
class Actor:
    type: str  # customer | agent | supervisor | integration | admin | system
    id: int | None = None


SYSTEM = Actor("system")


def allowed(action: Action, status: str) -> bool:
    return (action, Status(status)) in TRANSITIONS


def record(
    session: Session,
    ticket: Ticket,
    event_type: str,
    actor: Actor,
    now: dt.datetime,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    message_id: int | None = None,
    **details: Any,
) -> None:
    """Append an event to the audit trail (for moments that are not status changes, too)."""
    assert ticket.id is not None
    record_many(session, [event_row(ticket.id, event_type, actor, now, from_status, to_status, details, message_id)])


def event_row(
    ticket_id: int,
    event_type: str,
    actor: Actor,
    now: dt.datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "message_id": message_id,
        "type": event_type,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "from_status": from_status,
        "to_status": to_status,
        "details": details or {},
        "created_at": now,
    }


_INSERT_EVENTS = insert(events_table)  # built once: it is on every write path


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert event rows in one statement; events are never updated, so no ORM objects are needed."""
    if rows:
        session.connection().execute(_INSERT_EVENTS, rows)


def apply(
    session: Session,
    ticket: Ticket,
    action: Action,
    actor: Actor,
    now: dt.datetime,
    *,
    sla: SlaTracker | None = None,
    message_id: int | None = None,
    **details: Any,
) -> None:
    """Check that ``action`` is allowed in the ticket's status, apply it and write its event.

    With ``sla``, the SLA clocks follow the status change (pause while waiting for the
    customer, resume when back with the team, stop at closed) and their moments are recorded.
    """
    before = Status(ticket.status)
    after = TRANSITIONS.get((action, before))
    if after is None:
        raise InvalidTransition(f"cannot {action.value.replace('_', ' ')} a ticket whose status is '{before.value}'")
    ticket.status = after.value
    ticket.updated_at = now
    if action is Action.RESOLVE:
        ticket.resolved_at = now
    elif action in (Action.CONFIRM, Action.AUTO_CLOSE):
        ticket.closed_at = now
        ticket.close_reason = "confirmed" if action is Action.CONFIRM else "unconfirmed"
    elif after is Status.OPEN and before in (Status.RESOLVED, Status.AUTO_REPLIED):
        ticket.resolved_at = None
        if before is Status.RESOLVED:
            ticket.reopen_count += 1
    session.add(ticket)
    record(
        session,
        ticket,
        EVENT_TYPES[action],
        actor,
        now,
        from_status=before.value,
        to_status=after.value,
        message_id=message_id,
        **details,
    )
    if sla is not None:
        record_sla(session, ticket, sla, sla.status_changed(ticket, before.value, after.value, now))


def record_sla(session: Session, ticket: Ticket, sla: SlaTracker, changes: list[SlaChange]) -> None:
    """Write SLA moments (sla.started, sla.paused, ...) to the ticket's audit trail."""
    if changes:
        assert ticket.id is not None
        record_many(session, sla.event_rows(ticket.id, ticket.sla_policy, changes))
