"""Webhooks: events of chosen types POSTed to a URL, signed with HMAC-SHA256, retried with backoff.

Delivery never touches the request path: the leader process reads the event log after a stored
cursor, queues one delivery row per matching webhook (in the same transaction that advances the
cursor; (webhook, event) is unique, so each event is queued once), claims due deliveries and sends
them outside any transaction, several at a time.
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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from tickets.db import session_scope
from tickets.errors import InvalidInput, NotFound
from tickets.models import Event, JobCursor, Webhook, WebhookDelivery, deliveries_table

log = logging.getLogger("tickets.webhooks")
CURSOR = "webhooks"
MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 3600
SEND_TIMEOUT_SECONDS = 5.0
BATCH = 200
SETTLE_SECONDS = 10.0  # a gap in event ids younger than this may still be filled by a commit (PostgreSQL)
LEASE_SECONDS = 120.0  # a claimed delivery is not picked again for this long
SENDERS = 8


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


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = ["webhook_id", "event_id"]
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = postgresql_insert(deliveries_table).on_conflict_do_nothing(index_elements=keys)
    else:
        statement = sqlite_insert(deliveries_table).on_conflict_do_nothing(index_elements=keys)
    session.connection().execute(statement, rows)


def _enqueue(session: Session, now: dt.datetime) -> None:
    """Queue one delivery per (webhook, event) for events after the cursor.

    On PostgreSQL ids can become visible out of order (a transaction holding id 7 commits after
    the one holding id 8). Every event after the cursor is queued (queuing again is a no-op:
    (webhook, event) is unique), but the cursor only moves through consecutive ids, and past a
    gap only once the gap is ``SETTLE_SECONDS`` old (then it is a rolled-back transaction's id).
    The cursor row is locked, so concurrent dispatchers take turns.
    """
    cursor = session.exec(select(JobCursor).where(JobCursor.name == CURSOR).with_for_update()).first()
    if cursor is None:
        # Start from the present: a new installation does not replay history to its hooks.
        latest = session.exec(select(Event.id).order_by(col(Event.id).desc()).limit(1)).first()
        cursor = JobCursor(name=CURSOR, last_event_id=latest or 0)
        session.add(cursor)
        session.flush()
    hooks = session.exec(select(Webhook).where(col(Webhook.active))).all()
    settled = now - dt.timedelta(seconds=SETTLE_SECONDS)
    events = session.exec(
        select(Event).where(col(Event.id) > cursor.last_event_id).order_by(col(Event.id)).limit(BATCH)
    ).all()
    rows = []
    contiguous = True
    for event in events:
        assert event.id is not None
        rows += [
            {"webhook_id": h.id, "event_id": event.id, "status": "pending", "attempts": 0, "next_attempt_at": now}
            for h in hooks
            if matches(h.event_types, event.type)
        ]
        if event.id != cursor.last_event_id + 1 and event.created_at > settled:
            contiguous = False  # an earlier id may still commit: keep the cursor before the gap
        if contiguous:
            cursor.last_event_id = event.id
    _insert_ignoring_duplicates(session, rows)
    session.add(cursor)


def _send(client: httpx.Client, url: str, secret: str, body: bytes, event_type: str) -> str | None:
    """POST one delivery; returns None on success or the reason it failed."""
    try:
        response = client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Triage-Event": event_type,
                "X-Triage-Signature": signature(secret, body),
            },
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if response.is_success else f"HTTP {response.status_code}"


def dispatch(engine: Engine, now: dt.datetime) -> int:
    """Queue new events for their webhooks and send what is due. Returns deliveries attempted.

    Due deliveries are claimed first (their next attempt moved a lease ahead, rows locked with
    SKIP LOCKED), so a second dispatcher running at the same moment never sends them too.
    """
    with session_scope(engine) as session:
        _enqueue(session, now)
    with session_scope(engine) as session:
        due = session.exec(
            select(WebhookDelivery, Webhook, Event)
            .join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
            .join(Event, col(Event.id) == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.status == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
                col(Webhook.active),
            )
            .order_by(col(WebhookDelivery.id))
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        jobs = []
        for delivery, hook, event in due:
            delivery.next_attempt_at = now + dt.timedelta(seconds=LEASE_SECONDS)
            session.add(delivery)
            body = json.dumps(payload(event), ensure_ascii=False).encode()
            jobs.append((delivery.id, hook.url, hook.secret, body, event.type))
    if not jobs:
        return 0
    # One receiver gets its deliveries in event order; different receivers are served in parallel,
    # so a slow one does not hold up the others.
    by_hook: dict[str, list[tuple[Any, ...]]] = {}
    for job in jobs:
        by_hook.setdefault(job[1], []).append(job)
    errors_by_id: dict[int | None, str | None] = {}
    with httpx.Client(timeout=SEND_TIMEOUT_SECONDS) as client, ThreadPoolExecutor(SENDERS) as pool:
        for results in pool.map(lambda group: [(j[0], _send(client, *j[1:])) for j in group], by_hook.values()):
            errors_by_id.update(results)
    errors = [errors_by_id[job[0]] for job in jobs]
    with session_scope(engine) as session:
        for (delivery_id, *_), error in zip(jobs, errors, strict=True):
            sent = session.get(WebhookDelivery, delivery_id)
            if sent is None:
                continue
            delivery = sent
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
    return len(jobs)
