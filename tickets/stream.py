"""Live events for server-sent-event clients, across processes.

The event log is the source of truth: one hub per process tails ``events`` by id (an indexed
primary-key range, every ``POLL_SECONDS``) and fans new rows out to its subscribers. An event
written by any process therefore reaches the stream clients of every process, on SQLite and on
PostgreSQL alike, and a client that reconnects with ``Last-Event-ID`` is replayed exactly what
it missed: nothing lost, nothing repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from tickets.db import read_only
from tickets.models import events_table, messages_table, tickets_table

log = logging.getLogger("tickets.stream")
POLL_SECONDS = 0.2
BATCH = 1000
QUEUE_LIMIT = 5000
HEARTBEAT_SECONDS = 15.0
IDLE_RESYNC_POLLS = 10
GAP_WAIT_SECONDS = 2.0
# What a customer's own stream shows: the conversation and the status, never internal details.
CUSTOMER_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.auto_replied",
        "ticket.handed_over",
        "ticket.assigned",
        "ticket.replied",
        "ticket.call_answered",
        "ticket.customer_replied",
        "ticket.resolved",
        "ticket.reopened",
        "ticket.closed",
    }
)

_SELECT = (
    select(
        events_table.c.id,
        events_table.c.type,
        events_table.c.ticket_id,
        events_table.c.from_status,
        events_table.c.to_status,
        events_table.c.details,
        events_table.c.created_at,
        events_table.c.actor_type,
        tickets_table.c.queue,
        tickets_table.c.channel,
        tickets_table.c.priority,
        tickets_table.c.subject,
        messages_table.c.id.label("message_id"),
        messages_table.c.author_type,
        messages_table.c.kind,
        messages_table.c.body,
    )
    .join(tickets_table, tickets_table.c.id == events_table.c.ticket_id)
    .outerjoin(messages_table, messages_table.c.id == events_table.c.message_id)
    .order_by(events_table.c.id)
)


@dataclass(frozen=True)
class StreamFilter:
    queues: frozenset[str] | None = None
    types: tuple[str, ...] | None = None  # exact types or prefixes ending in "." or ".*"
    ticket_id: int | None = None
    customer_view: bool = False

    def accepts(self, event: dict[str, Any]) -> bool:
        if self.ticket_id is not None and event["ticket_id"] != self.ticket_id:
            return False
        if self.customer_view and event["type"] not in CUSTOMER_TYPES:
            return False
        if self.queues is not None and event["queue"] not in self.queues:
            return False
        if self.types is not None:
            kind = event["type"]
            return any(kind == t or (t.endswith(("*", ".")) and kind.startswith(t.rstrip("*"))) for t in self.types)
        return True

    def render(self, event: dict[str, Any]) -> dict[str, Any]:
        if not self.customer_view:
            return event
        # Customers see the conversation, not notes, reasons or triage internals.
        shown = {k: event[k] for k in ("id", "type", "ticket_id", "from_status", "to_status", "created_at")}
        message = event.get("message")
        shown["message"] = message if message and message["kind"] != "note" else None
        return shown


def _row_to_event(row: Any) -> dict[str, Any]:
    message = None
    if row.message_id is not None:
        message = {"id": row.message_id, "author_type": row.author_type, "kind": row.kind, "body": row.body}
    return {
        "id": row.id,
        "type": row.type,
        "ticket_id": row.ticket_id,
        "queue": row.queue,
        "channel": row.channel,
        "priority": row.priority,
        "subject": row.subject,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "actor_type": row.actor_type,
        "details": row.details,
        "created_at": row.created_at.isoformat(),
        "message": message,
    }


class Subscription:
    def __init__(self, flt: StreamFilter) -> None:
        self.filter = flt
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = False  # fell too far behind; the client must reconnect with Last-Event-ID


class EventHub:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.subscribers: set[Subscription] = set()
        self.last_id = 0
        self._idle_polls = 0
        self._gap_since: float | None = None
        self._gap_at = 0
        self._task: asyncio.Task[None] | None = None

    def fetch_after(self, after_id: int, limit: int = BATCH, ticket_id: int | None = None) -> list[dict[str, Any]]:
        statement = _SELECT.where(events_table.c.id > after_id).limit(limit)
        if ticket_id is not None:
            statement = statement.where(events_table.c.ticket_id == ticket_id)
        with read_only(self.engine) as connection:
            return [_row_to_event(row) for row in connection.execute(statement)]

    def latest_id(self) -> int:
        with read_only(self.engine) as connection:
            found = connection.execute(select(events_table.c.id).order_by(events_table.c.id.desc()).limit(1)).first()
        return int(found.id) if found else 0

    async def start(self) -> None:
        self.last_id = await asyncio.to_thread(self.latest_id)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sub in list(self.subscribers):
            sub.queue.put_nowait(None)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self.subscribers:
                self._idle_polls += 1
                if self._idle_polls % IDLE_RESYNC_POLLS == 0:
                    # Nobody listening: keep the position current instead of reading history later.
                    self.last_id = await asyncio.to_thread(self.latest_id)
                continue
            try:
                events = await asyncio.to_thread(self.fetch_after, self.last_id)
            except Exception:
                log.exception("event hub could not read the event log; retrying")
                continue
            for event in self._without_gaps(events):
                self.last_id = event["id"]
                for sub in list(self.subscribers):
                    if sub.filter.accepts(event):
                        try:
                            sub.queue.put_nowait(sub.filter.render(event))
                        except asyncio.QueueFull:
                            # A client this far behind reconnects with Last-Event-ID and is replayed.
                            sub.dropped = True
                            self.subscribers.discard(sub)

    def _without_gaps(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events up to the first gap in the ids, unless that gap has lasted ``GAP_WAIT_SECONDS``.

        On PostgreSQL two transactions can commit their event ids out of order: id 8 may become
        visible before id 7. Moving past 7 would lose it, so the hub waits a little for it; a gap
        that stays is a rolled-back transaction's id and is skipped.
        """
        expected = self.last_id + 1
        for index, event in enumerate(events):
            if event["id"] != expected:
                now = time.monotonic()
                if self._gap_since is None or self._gap_at != expected:
                    self._gap_since, self._gap_at = now, expected
                if now - self._gap_since < GAP_WAIT_SECONDS:
                    return events[:index]
            expected = event["id"] + 1
        self._gap_since = None
        return events

    async def stream(self, flt: StreamFilter, after_id: int | None) -> AsyncIterator[str]:
        """SSE text: the backlog after ``after_id`` (if given), then live events, with heartbeats."""
        sub = Subscription(flt)
        self.subscribers.add(sub)
        try:
            # A new client starts from now: what happened before it connected is not news.
            sent = await asyncio.to_thread(self.latest_id) if after_id is None else after_id
            if after_id is not None:
                while True:
                    backlog = await asyncio.to_thread(self.fetch_after, sent, BATCH, flt.ticket_id)
                    for missed in backlog:
                        sent = missed["id"]
                        if flt.accepts(missed):
                            yield _sse(flt.render(missed))
                    if len(backlog) < BATCH:
                        break
            yield ": connected\n\n"
            while True:
                if sub.dropped and sub.queue.empty():
                    return
                try:
                    event: dict[str, Any] | None = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event is None:
                    return
                if event["id"] > sent:  # never repeat what the backlog already sent
                    sent = event["id"]
                    yield _sse(event)
        finally:
            self.subscribers.discard(sub)


def _sse(event: dict[str, Any]) -> str:
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
