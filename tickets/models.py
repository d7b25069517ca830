"""Tables. Times are stored in UTC and always come back timezone-aware (SQLite forgets the zone)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# Named constraints, so Alembic migrations can refer to them on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

CHANNELS = ("chat", "phone", "email", "web")
STATUSES = ("auto_replied", "open", "pending_customer", "resolved", "closed")
ROLES = ("agent", "supervisor", "integration", "admin")


class UTCDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)
    tier: str = Field(default="standard", max_length=50)
    created_at: dt.datetime = utc_column(nullable=False)


class User(SQLModel, table=True):
    """Agents, supervisors, integrations and admins. Only a hash of the token is stored."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    token_hash: str = Field(max_length=64, unique=True)
    active: bool = Field(default=True)
    created_at: dt.datetime = utc_column(nullable=False)
    revoked_at: dt.datetime | None = utc_column()


class Queue(SQLModel, table=True):
    __tablename__ = "queues"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_queue_status", "queue", "status"),
        Index("ix_tickets_status_resolved_at", "status", "resolved_at"),
        Index("ix_tickets_sla_check_at", "sla_check_at"),
        Index("ix_tickets_status_sla_due_at", "status", "sla_due_at"),
        # Covering index of the report queries: a month of a million tickets is aggregated from
        # this narrow index instead of the wide rows.
        Index(
            "ix_tickets_report",
            "created_at",
            "channel",
            "queue",
            "assignee_id",
            "intent",
            "status",
            "close_reason",
            "auto_replied",
            "first_response_state",
            "first_response_seconds",
            "rating",
            "reopen_count",
            "handed_over_at",
            "resolved_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    customer_token_hash: str = Field(max_length=64, unique=True)
    channel: str = Field(max_length=10)
    status: str = Field(max_length=20)
    subject: str = Field(max_length=200)

    intent: str = Field(max_length=64)
    queue: str = Field(max_length=64)
    priority: str = Field(max_length=10)
    confidence: float
    faq_id: str | None = Field(default=None, max_length=64)
    auto_replied: bool = False  # the FAQ answer was sent (the customer may still have asked for a person)
    model_version: str = Field(max_length=64)
    explanation: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    assignee_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    escalation_level: int = 0
    reopen_count: int = 0
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=2000)
    close_reason: str | None = Field(default=None, max_length=20)

    created_at: dt.datetime = utc_column(nullable=False)
    updated_at: dt.datetime = utc_column(nullable=False)
    handed_over_at: dt.datetime | None = utc_column()
    first_response_at: dt.datetime | None = utc_column()
    resolved_at: dt.datetime | None = utc_column()
    closed_at: dt.datetime | None = utc_column()

    # SLA clocks (see tickets/sla/clock.py), one group of columns per metric so that the monitor,
    # the queue ordering and the reports can all be indexed SQL.
    sla_policy: str | None = Field(default=None, max_length=100)
    sla_due_at: dt.datetime | None = utc_column()  # earliest due time of a running clock
    sla_check_at: dt.datetime | None = utc_column()  # when the monitor must look next
    first_response_state: str | None = Field(default=None, max_length=12)
    first_response_target_seconds: float | None = None
    first_response_started_at: dt.datetime | None = utc_column()
    first_response_due_at: dt.datetime | None = utc_column()
    first_response_warn_at: dt.datetime | None = utc_column()
    first_response_used_seconds: float = 0.0
    first_response_seconds: float | None = None  # working seconds it took, for reports
    next_response_state: str | None = Field(default=None, max_length=12)
    next_response_target_seconds: float | None = None
    next_response_started_at: dt.datetime | None = utc_column()
    next_response_due_at: dt.datetime | None = utc_column()
    next_response_warn_at: dt.datetime | None = utc_column()
    next_response_used_seconds: float = 0.0
    resolution_state: str | None = Field(default=None, max_length=12)
    resolution_target_seconds: float | None = None
    resolution_started_at: dt.datetime | None = utc_column()
    resolution_due_at: dt.datetime | None = utc_column()
    resolution_warn_at: dt.datetime | None = utc_column()
    resolution_used_seconds: float = 0.0


class Message(SQLModel, table=True):
    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    author_type: str = Field(max_length=20)  # customer | agent | integration | system
    author_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(default="text", max_length=20)  # text | auto_reply | call_answered
    body: str
    created_at: dt.datetime = utc_column(nullable=False)


class Event(SQLModel, table=True):
    """The append-only audit trail: who did what to a ticket, when, and the status it moved between."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    type: str = Field(max_length=50, index=True)
    message_id: int | None = Field(default=None, foreign_key="messages.id")
    actor_type: str = Field(max_length=20)
    actor_id: int | None = None
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = utc_column(nullable=False, index=True)


class TriageCorrection(SQLModel, table=True):
    """An agent's correction of the triage, kept as labelled data for retraining."""

    __tablename__ = "triage_corrections"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    text: str
    predicted_intent: str = Field(max_length=64)
    predicted_queue: str = Field(max_length=64)
    corrected_intent: str = Field(max_length=64)
    corrected_queue: str = Field(max_length=64)
    user_id: int = Field(foreign_key="users.id")
    created_at: dt.datetime = utc_column(nullable=False)


class Webhook(SQLModel, table=True):
    """An HTTP endpoint that receives events of the listed types, signed with HMAC-SHA256."""

    __tablename__ = "webhooks"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=200)
    active: bool = True
    created_at: dt.datetime = utc_column(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhooks.id", index=True)
    event_id: int = Field(foreign_key="events.id")
    status: str = Field(default="pending", max_length=12)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: dt.datetime = utc_column(nullable=False)
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: dt.datetime | None = utc_column()


class JobCursor(SQLModel, table=True):
    """How far a background job has read the event log (e.g. the webhook dispatcher)."""

    __tablename__ = "job_cursors"

    name: str = Field(primary_key=True, max_length=50)
    last_event_id: int = 0


# Core table handles, for the hot paths that insert rows without the ORM unit of work.
deliveries_table = WebhookDelivery.__table__  # type: ignore[attr-defined]
customers_table = Customer.__table__  # type: ignore[attr-defined]
tickets_table = Ticket.__table__  # type: ignore[attr-defined]
messages_table = Message.__table__  # type: ignore[attr-defined]
events_table = Event.__table__  # type: ignore[attr-defined]
users_table = User.__table__  # type: ignore[attr-defined]
