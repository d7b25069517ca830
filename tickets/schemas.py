"""Request and response bodies of the v1 API. Requests are strict: wrong types and unknown fields are 422."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

Channel = Literal["chat", "phone", "email", "web"]
StatusName = Literal["auto_replied", "open", "pending_customer", "resolved", "closed"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL and no client means to send one: refuse it everywhere.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _visible(value: str, field: str) -> str:
    if not any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf") for ch in value):
        raise ValueError(f"'{field}' must contain at least one visible character")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
"""A request string: strictly a string, never containing NUL."""
Identifier = Annotated[StrictStr, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CustomerIn(_Request):
    name: Text | None = Field(default=None, max_length=200)
    phone: Text | None = Field(default=None, max_length=50)
    email: Text | None = Field(default=None, max_length=320)
    external_id: Text | None = Field(default=None, max_length=200)
    signature: Text | None = Field(
        default=None,
        max_length=128,
        description="Hex HMAC-SHA256 of external_id with the site secret (TRIAGE_WIDGET_SECRET); "
        "an unsigned or badly signed identity is treated as anonymous",
    )


class InquiryIn(_Request):
    channel: Channel
    text: Text = Field(min_length=1, max_length=5000, description="The customer's message (at most 5000 characters)")
    customer: CustomerIn | None = None

    @field_validator("text")
    @classmethod
    def _text_visible(cls, value: str) -> str:
        return _visible(value, "text")


class MessageIn(_Request):
    body: Text = Field(min_length=1, max_length=5000)
    kind: Literal["text", "call_answered"] = "text"

    @field_validator("body")
    @classmethod
    def _body_visible(cls, value: str) -> str:
        return _visible(value, "body")


class ResolveIn(_Request):
    note: Text | None = Field(default=None, max_length=2000)


class ConfirmIn(_Request):
    resolved: StrictBool
    rating: StrictInt | None = Field(default=None, ge=1, le=5, description="1-5, only with resolved=true")
    comment: Text | None = Field(default=None, max_length=2000)


class EscalateIn(_Request):
    reason: Text = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _reason_visible(cls, value: str) -> str:
        return _visible(value, "reason")


class RerouteIn(_Request):
    queue: Identifier | None = None
    intent: Identifier | None = None


class TriageIn(_Request):
    text: Text = Field(min_length=1, max_length=5000)

    @field_validator("text")
    @classmethod
    def _text_visible(cls, value: str) -> str:
        return _visible(value, "text")


class TriageOut(BaseModel):
    intent: str
    queue: str
    priority: str
    confidence: float
    faq_id: str | None


class AutoReplyOut(BaseModel):
    faq_id: str
    answer: str


class InquiryOut(BaseModel):
    ticket_id: int
    status: StatusName
    customer_token: str = Field(description="Opens this ticket only; shown once")
    triage: TriageOut
    auto_reply: AutoReplyOut | None


class TriageResultOut(BaseModel):
    triage: TriageOut
    auto_reply: AutoReplyOut | None
    explanation: list[str]
    reason: str
    model_version: str


class MessageOut(BaseModel):
    id: int
    author_type: str
    author_id: int | None
    kind: str
    body: str
    created_at: dt.datetime


class EventOut(BaseModel):
    id: int
    type: str
    actor_type: str
    actor_id: int | None
    from_status: str | None
    to_status: str | None
    details: dict[str, Any]
    created_at: dt.datetime


class SlaMetricOut(BaseModel):
    state: Literal["not_started", "running", "warned", "paused", "met", "breached", "cancelled"]
    target_seconds: float | None
    started_at: dt.datetime | None = Field(description="Start of the current run (after a pause: the resume)")
    due_at: dt.datetime | None
    seconds_left: float | None = Field(description="Until due_at (negative when overdue); null unless running")


class SlaOut(BaseModel):
    policy: str | None
    first_response: SlaMetricOut
    next_response: SlaMetricOut
    resolution: SlaMetricOut


class TicketTriageOut(TriageOut):
    model_version: str
    explanation: list[str]


class TicketSummaryOut(BaseModel):
    id: int
    status: StatusName
    channel: Channel
    subject: str
    triage: TicketTriageOut
    assignee_id: int | None
    escalation_level: int
    reopen_count: int
    rating: int | None
    rating_comment: str | None
    close_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    sla: SlaOut


class TicketOut(TicketSummaryOut):
    messages: list[MessageOut]
    events: list[EventOut]


class TicketPage(BaseModel):
    items: list[TicketSummaryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class QueueOut(BaseModel):
    id: str
    name: str
    open: int
    pending_customer: int
    breached: int
    at_risk: int


class CorrectionOut(BaseModel):
    text: str
    label: str
    predicted: str
    queue: str
    ticket_id: int
    created_at: dt.datetime


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
