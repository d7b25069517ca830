"""Webhooks: created by an admin, fed by ``tickets.webhooks.dispatch(engine, now)`` (called here with an
injected ``now``; the live server's background jobs are off) to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlmodel import Session, col, select

from tests.tickets.conftest import T0, LiveServer
from tickets import lifecycle, webhooks
from tickets.db import make_engine, session_scope
from tickets.models import Event, WebhookDelivery, events_table
from tickets.sla.monitor import check_due

CALL = "喂 我那个手机屏幕摔坏了 能修吗"
OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A webhook endpoint: records every POST and answers with the queued statuses, then ``default``."""

    answers: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0  # seconds before answering
    received: list[Delivery] = field(default_factory=list)
    url: str = ""

    def answer(self) -> int:
        return self.answers.pop(0) if self.answers else self.default

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.received if d.status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(state.delay)
            with lock:
                status = state.answer()
                state.received.append(Delivery(dict(self.headers.items()), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/triage"
    yield state
    server.shutdown()
    server.server_close()


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def create_hook(live: LiveServer, url: str, event_types: list[str], **extra: Any) -> dict[str, Any]:
    with live.client(live.token("admin")) as admin:
        response = admin.post("/api/v1/webhooks", json={"url": url, "event_types": event_types, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def inquiry(live: LiveServer, text: str, channel: str = "chat") -> int:
    with live.client(live.token("integration")) as client:  # an integration is not rate-limited
        response = client.post("/api/v1/inquiries", json={"channel": channel, "text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["ticket_id"])


def insert_event(session: Session, ticket_id: int) -> int:
    row = lifecycle.event_row(ticket_id, "sla.warning", lifecycle.SYSTEM, T0)
    return int(session.connection().execute(insert(events_table).values(row).returning(events_table.c.id)).scalar_one())


def deliveries() -> Any:
    return select(WebhookDelivery).order_by(col(WebhookDelivery.id))


def verify(delivery: Delivery, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["X-Triage-Signature"], expected)
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Triage-Event"] == delivery.payload["type"]


@pytest.fixture
def ready(live: LiveServer) -> LiveServer:
    """A live server with a frozen clock whose dispatcher has started reading the event log."""
    live.clock.freeze(T0)
    assert webhooks.dispatch(live.engine, T0) == 0  # first run: the cursor starts at the present
    return live


class TestDelivery:
    def test_a_breach_is_posted_once_with_a_valid_signature(self, ready: LiveServer, receiver: Receiver) -> None:
        hook = create_hook(ready, receiver.url, ["sla.breached"])
        assert len(hook["secret"]) >= 32
        ticket_id = inquiry(ready, CALL, channel="phone")
        assert check_due(ready.engine, ready.app.state.sla, T0 + s(20)) == 1
        assert webhooks.dispatch(ready.engine, T0 + s(21)) == 1
        assert webhooks.dispatch(ready.engine, T0 + s(22)) == 0
        [delivery] = receiver.received
        verify(delivery, hook["secret"])
        body = delivery.payload
        assert (body["type"], body["ticket_id"], body["details"]["metric"]) == (
            "sla.breached",
            ticket_id,
            "first_response",
        )
        assert body["details"]["due_at"] == (T0 + s(15)).isoformat()
        with session_scope(ready.engine) as session:
            [row] = session.exec(deliveries()).all()
            event = session.get(Event, row.event_id)
        assert event is not None
        assert (event.type, body["id"]) == ("sla.breached", event.id)
        assert (row.status, row.attempts, row.delivered_at) == ("delivered", 1, T0 + s(21))

    def test_a_tampered_body_fails_verification(self, ready: LiveServer, receiver: Receiver) -> None:
        hook = create_hook(ready, receiver.url, ["ticket.created"], secret="a-secret-of-the-admins-choice")
        assert hook["secret"] == "a-secret-of-the-admins-choice"
        inquiry(ready, OWN_CASE)
        webhooks.dispatch(ready.engine, T0 + s(1))
        [delivery] = receiver.received
        verify(delivery, "a-secret-of-the-admins-choice")
        forged = Delivery(delivery.headers, delivery.body.replace(b"ticket.created", b"ticket.closed!"), 200)
        with pytest.raises(AssertionError):
            verify(forged, "a-secret-of-the-admins-choice")
        with pytest.raises(AssertionError):
            verify(delivery, "another-secret-entirely")

    def test_ticket_star_gets_every_ticket_event_in_order_and_no_sla(
        self, ready: LiveServer, receiver: Receiver
    ) -> None:
        hook = create_hook(ready, receiver.url, ["ticket.*"])
        ticket_id = inquiry(ready, OWN_CASE)
        with ready.client(ready.token("agent")) as agent:
            agent.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "您好，马上为您查询"})
        with session_scope(ready.engine) as session:
            expected = [
                (e.id, e.type)
                for e in session.exec(select(Event).order_by(col(Event.id))).all()
                if e.type.startswith("ticket.")
            ]
        assert webhooks.dispatch(ready.engine, T0 + s(1)) == len(expected)
        assert [(d.payload["id"], d.payload["type"]) for d in receiver.received] == expected
        assert {"ticket.created", "ticket.replied"} <= {t for _, t in expected}
        for delivery in receiver.received:
            verify(delivery, hook["secret"])

    def test_the_secret_is_shown_once(self, ready: LiveServer, receiver: Receiver) -> None:
        hook = create_hook(ready, receiver.url, ["sla.*"])
        with ready.client(ready.token("admin")) as admin:
            listed = admin.get("/api/v1/webhooks").json()
        assert [(h["id"], h["event_types"], h["secret"]) for h in listed] == [(hook["id"], ["sla.*"], None)]
        assert hook["secret"] not in json.dumps(listed)

    def test_only_an_admin_manages_webhooks(self, ready: LiveServer, receiver: Receiver) -> None:
        body = {"url": receiver.url, "event_types": ["sla.breached"]}
        with ready.client() as anonymous:
            assert anonymous.post("/api/v1/webhooks", json=body).status_code == 401
        for role in ("agent", "supervisor", "integration"):
            with ready.client(ready.token(role)) as client:
                assert client.post("/api/v1/webhooks", json=body).status_code == 403
        with ready.client(ready.token("admin")) as admin:
            assert admin.post("/api/v1/webhooks", json={**body, "url": "ftp://example.com"}).status_code == 422
            assert admin.post("/api/v1/webhooks", json={**body, "event_types": []}).status_code == 422


class TestRetry:
    def test_a_failing_receiver_is_retried_with_growing_backoff_then_delivered_once(
        self, ready: LiveServer, receiver: Receiver
    ) -> None:
        hook = create_hook(ready, receiver.url, ["ticket.created"])
        inquiry(ready, OWN_CASE)
        receiver.answers = [500, 500, 500]
        now = T0 + s(1)
        attempts_at = []
        for _ in range(40):  # the dispatcher ticks every second of injected time
            if webhooks.dispatch(ready.engine, now):
                attempts_at.append(now)
            now += s(1)
        assert [d.status for d in receiver.received] == [500, 500, 500, 200]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts_at)]
        assert gaps == [2, 4, 8]  # 2 ** attempts seconds after each failure
        assert len({d.body for d in receiver.received}) == 1  # the same event each time
        for delivery in receiver.received:
            verify(delivery, hook["secret"])
        with session_scope(ready.engine) as session:
            [row] = session.exec(deliveries()).all()
        assert (row.status, row.attempts, row.last_error) == ("delivered", 4, "HTTP 500")
        assert row.delivered_at == attempts_at[-1]

    def test_next_attempt_moves_further_out_after_each_failure(self, ready: LiveServer, receiver: Receiver) -> None:
        create_hook(ready, receiver.url, ["ticket.created"])
        inquiry(ready, OWN_CASE)
        receiver.default = 500
        now = T0 + s(1)
        waits = []
        for attempt in range(1, 11):
            assert webhooks.dispatch(ready.engine, now) == 1
            with session_scope(ready.engine) as session:
                [row] = session.exec(deliveries()).all()
            assert row.attempts == attempt
            waits.append((row.next_attempt_at - now).total_seconds())
            assert webhooks.dispatch(ready.engine, row.next_attempt_at - s(0.001)) == 0  # not before it is due
            now = row.next_attempt_at
        assert waits == [2.0**n for n in range(1, 11)]
        assert row.status == "failed"  # given up after MAX_ATTEMPTS
        assert webhooks.dispatch(ready.engine, now + dt.timedelta(days=1)) == 0
        assert len(receiver.received) == webhooks.MAX_ATTEMPTS

    def test_an_unreachable_receiver_is_retried_too(self, ready: LiveServer, receiver: Receiver) -> None:
        create_hook(ready, "http://127.0.0.1:9/nobody-listens", ["ticket.created"])
        inquiry(ready, OWN_CASE)
        assert webhooks.dispatch(ready.engine, T0 + s(1)) == 1
        with session_scope(ready.engine) as session:
            [row] = session.exec(deliveries()).all()
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, T0 + s(3))
        assert row.last_error is not None
        assert "Connect" in row.last_error

    def test_a_deleted_webhook_gets_no_more_retries(self, ready: LiveServer, receiver: Receiver) -> None:
        hook = create_hook(ready, receiver.url, ["ticket.created"])
        inquiry(ready, OWN_CASE)
        receiver.default = 500
        assert webhooks.dispatch(ready.engine, T0 + s(1)) == 1
        with ready.client(ready.token("admin")) as admin:
            assert admin.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
        webhooks.dispatch(ready.engine, T0 + s(60))
        assert len(receiver.received) == 1


class TestOutOfOrderCommits:
    def test_an_id_committed_after_a_later_one_is_still_delivered(
        self, ready: LiveServer, receiver: Receiver, database_url: str, request: pytest.FixtureRequest
    ) -> None:
        if database_url.startswith("sqlite"):
            pytest.skip("SQLite has one writer at a time: event ids become visible in order")
        create_hook(ready, receiver.url, ["sla.warning"])
        ticket_id = inquiry(ready, OWN_CASE)
        with Session(ready.engine) as slow:  # takes the smaller id, commits last
            slow_id = insert_event(slow, ticket_id)
            with session_scope(ready.engine) as fast:
                fast_id = insert_event(fast, ticket_id)
            assert webhooks.dispatch(ready.engine, T0 + s(1)) == 1
            slow.commit()
        for tick in range(2, 5):
            webhooks.dispatch(ready.engine, T0 + s(tick))
        assert sorted(d.payload["id"] for d in receiver.received) == [slow_id, fast_id]


class TestQueuedOnce:
    def test_dispatch_twice_queues_and_sends_each_event_once(self, ready: LiveServer, receiver: Receiver) -> None:
        create_hook(ready, receiver.url, ["ticket.*"])
        inquiry(ready, OWN_CASE)
        first = webhooks.dispatch(ready.engine, T0 + s(1))
        assert webhooks.dispatch(ready.engine, T0 + s(1)) == 0
        inquiry(ready, f"{OWN_CASE} 第二单")
        second = webhooks.dispatch(ready.engine, T0 + s(2))
        assert webhooks.dispatch(ready.engine, T0 + s(3)) == 0
        with session_scope(ready.engine) as session:
            rows = session.exec(deliveries()).all()
            ticket_events = session.exec(select(Event.id).where(col(Event.type).startswith("ticket."))).all()
        assert first + second == len(ticket_events) == len(rows)
        assert sorted(r.event_id for r in rows) == sorted(i for i in ticket_events if i is not None)
        assert Counter(d.payload["id"] for d in receiver.received) == Counter(set(ticket_events))

    def race(self, live: LiveServer, database_url: str, rounds: int, *, read_before_write: bool = False) -> None:
        """Each round: new events, then two dispatchers (two engines, as if two processes) start together.

        ``read_before_write`` holds each dispatcher's first INSERT into webhook_deliveries until the other
        has got that far too (for at most a second), which makes the interleaving that a plain race hits
        most of the time certain: both have read the cursor before either queues anything.
        """
        other = make_engine(database_url)
        gate = threading.Barrier(2)
        waited: set[int] = set()

        def hold_first_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO WEBHOOK_DELIVERIES") and (
                threading.get_ident() not in waited
            ):
                waited.add(threading.get_ident())
                with contextlib.suppress(threading.BrokenBarrierError):
                    gate.wait(timeout=1.0)  # on SQLite the other is queued behind BEGIN IMMEDIATE

        engines = [live.engine, other]
        if read_before_write:
            for engine in engines:
                event.listen(engine, "before_cursor_execute", hold_first_insert)
        try:
            for round_ in range(rounds):
                for i in range(3):
                    inquiry(live, f"{OWN_CASE} 第{round_}-{i}单")
                start = threading.Barrier(2)
                now = T0 + s(round_ + 1)

                def run(engine: Any, together: threading.Barrier = start, at: dt.datetime = now) -> int:
                    together.wait()
                    return webhooks.dispatch(engine, at)

                gate.reset()
                waited.clear()
                with ThreadPoolExecutor(2) as pool:
                    list(pool.map(run, engines))
        finally:
            if read_before_write:
                for engine in engines:
                    event.remove(engine, "before_cursor_execute", hold_first_insert)
            other.dispose()

    def test_two_dispatchers_at_once_queue_each_event_once(
        self, ready: LiveServer, receiver: Receiver, database_url: str, request: pytest.FixtureRequest
    ) -> None:
        create_hook(ready, receiver.url, ["ticket.created"])
        self.race(ready, database_url, rounds=1, read_before_write=True)
        with session_scope(ready.engine) as session:
            rows = session.exec(deliveries()).all()
            created = session.exec(select(Event.id).where(Event.type == "ticket.created")).all()
        assert Counter(r.event_id for r in rows) == Counter(set(created))

    def test_two_dispatchers_at_once_send_each_event_once(
        self, ready: LiveServer, receiver: Receiver, database_url: str
    ) -> None:
        create_hook(ready, receiver.url, ["ticket.created"])
        receiver.delay = 0.05
        self.race(ready, database_url, rounds=2)
        with session_scope(ready.engine) as session:
            created = session.exec(select(Event.id).where(Event.type == "ticket.created")).all()
        assert Counter(d.payload["id"] for d in receiver.received) == Counter(set(created))
