"""Webhooks: events of chosen types POSTed to a URL, signed with HMAC-SHA256, retried with backoff.

Delivery never touches the request path: the leader process reads the event log after a stored
cursor, queues one delivery row per matching webhook (in the same transaction that advances the
cursor, so each event is queued once), and sends due deliveries outside any transaction.
Receivers verify ``X-Triage-Signature: sha256=<hex HMAC of the raw body with the secret>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tickets.db import session_scope
from tickets.errors import InvalidInput, NotFound
from tickets.models import Event, JobCursor, Webhook, WebhookDelivery

log = logging.getLogger("tickets.webhooks")
CURSOR = "webhooks"
MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 3600
SEND_TIMEOUT_SECONDS = 5.0
BATCH = 200


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """``sla.breached`` matches itself, ``sla.*`` and ``*``."""
    return any(p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])) for p in patterns)


def create(session: Session, url: str, event_types: list[str], secret: str | None, now: dt.datetime) -> Webhook:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("url must start with http:// or https://", field="url")
    if not event_types:
        raise InvalidInput(
            "event_types must list at least one type, e.g. 'sla.breached' or 'ticket.*'", field="event_types"
        )
    hook = Webhook(url=url, event_types=event_types, secret=secret or secrets.token_urlsafe(32), created_at=now)
    session.add(hook)
    session.flush()
    return hook


def list_all(session: Session) -> Sequence[Webhook]:
    return session.exec(select(Webhook).order_by(col(Webhook.id))).all()


def remove(session: Session, webhook_id: int) -> None:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook {webhook_id}")
    hook.active = False
    session.add(hook)


def payload(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "ticket_id": event.ticket_id,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "details": event.details,
        "created_at": event.created_at.isoformat(),
    }


def _enqueue(session: Session, now: dt.datetime) -> None:
    hooks = session.exec(select(Webhook).where(col(Webhook.active))).all()
    cursor = session.get(JobCursor, CURSOR)
    if cursor is None:
        # Start from the present: a new installation does not replay history to its hooks.
        latest = session.exec(select(Event.id).order_by(col(Event.id).desc()).limit(1)).first()
        cursor = JobCursor(name=CURSOR, last_event_id=latest or 0)
    events = session.exec(
        select(Event).where(col(Event.id) > cursor.last_event_id).order_by(col(Event.id)).limit(BATCH)
    ).all()
    for event in events:
        assert event.id is not None
        for hook in hooks:
            if matches(hook.event_types, event.type):
                assert hook.id is not None
                session.add(WebhookDelivery(webhook_id=hook.id, event_id=event.id, next_attempt_at=now))
        cursor.last_event_id = event.id
    session.add(cursor)


def _send(url: str, secret: str, body: bytes, event_type: str) -> str | None:
    """POST one delivery; returns None on success or the reason it failed."""
    try:
        response = httpx.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Triage-Event": event_type,
                "X-Triage-Signature": signature(secret, body),
            },
            timeout=SEND_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if response.is_success else f"HTTP {response.status_code}"


def dispatch(engine: Engine, now: dt.datetime) -> int:
    """Queue new events for their webhooks and send what is due. Returns deliveries attempted."""
    with session_scope(engine) as session:
        _enqueue(session, now)
        due = session.exec(
            select(WebhookDelivery, Webhook, Event)
            .join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
            .join(Event, col(Event.id) == WebhookDelivery.event_id)
            .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
            .order_by(col(WebhookDelivery.id))
            .limit(BATCH)
        ).all()
        jobs = [(d.id, h.url, h.secret, json.dumps(payload(e), ensure_ascii=False).encode(), e.type) for d, h, e in due]
    results = [(delivery_id, _send(url, secret, body, kind)) for delivery_id, url, secret, body, kind in jobs]
    if results:
        with session_scope(engine) as session:
            for delivery_id, error in results:
                delivery = session.get(WebhookDelivery, delivery_id)
                if delivery is None:
                    continue
                delivery.attempts += 1
                if error is None:
                    delivery.status, delivery.delivered_at = "delivered", now
                else:
                    delivery.last_error = error
                    backoff = min(2**delivery.attempts, MAX_BACKOFF_SECONDS)
                    delivery.next_attempt_at = now + dt.timedelta(seconds=backoff)
                    if delivery.attempts >= MAX_ATTEMPTS:
                        delivery.status = "failed"
                        log.warning("webhook delivery %s failed for good: %s", delivery_id, error)
                session.add(delivery)
    return len(results)
