"""The live event stream (GET /api/v1/events/stream): filters, the customer's view, replay with
Last-Event-ID, ids committed out of order, and events crossing from one server process to another.
Every read ends at a known last event (a "sentinel" created after the actions under test), so what
arrived is compared with what was written without waiting for "nothing more to come"."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from tests.tickets.conftest import LiveServer, make_token
from tests.tickets.support import ServeProcess, SseEvent, open_stream, start_process
from tickets import lifecycle
from tickets.db import make_engine, session_scope
from tickets.models import Event, events_table
from tickets.stream import CUSTOMER_TYPES

OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
INVOICE = "我的发票一直没收到 订单尾号3321"
LOGIN = "账号登录不上去，一直提示密码错误"
SECRET_REASON = "内部备注：此客户多次恶意投诉"
CUSTOMER_KEYS = {"id", "type", "ticket_id", "from_status", "to_status", "created_at", "message"}


def inquiry(base_url: str, text: str, channel: str = "chat") -> dict[str, Any]:
    response = httpx.post(f"{base_url}/api/v1/inquiries", json={"channel": channel, "text": text}, timeout=10)
    assert response.status_code == 201, response.text
    return dict(response.json())


def event_ids(engine: Engine, after: int = 0) -> list[int]:
    with session_scope(engine) as session:
        found = session.exec(select(Event.id).where(col(Event.id) > after).order_by(col(Event.id)))
        return [i for i in found if i is not None]


def last_event_id(engine: Engine) -> int:
    return event_ids(engine)[-1]


def upto(last: int) -> Any:
    return lambda event: event.id >= last


def kinds(events: list[SseEvent]) -> list[tuple[int, str]]:
    return [(e.data["ticket_id"], e.type) for e in events]


class TestFilters:
    def test_by_queue_and_type(self, live: LiveServer) -> None:
        with open_stream(
            live.base_url, live.token("supervisor"), {"queue": "after_sales", "type": "ticket.created"}
        ) as st:
            created = [inquiry(live.base_url, text) for text in (OWN_CASE, INVOICE, LOGIN, f"{OWN_CASE}，急")]
            queues = {c["ticket_id"]: c["triage"]["queue"] for c in created}
            assert created[-1]["triage"]["queue"] == "after_sales"
            assert set(queues.values()) - {"after_sales"}, "the filter must have something to leave out"
            events = st.read_until(lambda e: e.data["ticket_id"] == created[-1]["ticket_id"])
        expected = [(i, "ticket.created") for i, q in queues.items() if q == "after_sales"]
        assert kinds(events) == expected
        assert {e.data["queue"] for e in events} == {"after_sales"}

    def test_by_type_and_prefix(self, live: LiveServer) -> None:
        filters = {
            "sla.*": lambda t: t.startswith("sla."),
            "sla.": lambda t: t.startswith("sla."),
            "ticket.queued,sla.started": lambda t: t in ("ticket.queued", "sla.started"),
            "ticket.*": lambda t: t.startswith("ticket."),
        }
        supervisor = live.token("supervisor")
        with contextlib.ExitStack() as stack:
            streams = {t: stack.enter_context(open_stream(live.base_url, supervisor, {"type": t})) for t in filters}
            first = inquiry(live.base_url, OWN_CASE)
            with live.client(live.token("agent")) as agent:
                agent.post(f"/api/v1/tickets/{first['ticket_id']}/messages", json={"body": "您好，马上为您查询"})
            with session_scope(live.engine) as session:
                everything = session.exec(select(Event).order_by(col(Event.id))).all()
            sentinel = inquiry(live.base_url, f"{OWN_CASE} 再问一次")
            for types, accepted in filters.items():
                events = streams[types].read_until(lambda e: e.data["ticket_id"] == sentinel["ticket_id"])
                wanted = [(e.ticket_id, e.type) for e in everything if accepted(e.type)]
                assert kinds(events[:-1]) == wanted, types
                assert len(wanted) >= 3
                assert accepted(events[-1].type)


class TestCustomerView:
    def test_own_ticket_only_conversation_and_status_only(self, live: LiveServer) -> None:
        mine = inquiry(live.base_url, OWN_CASE)
        other = inquiry(live.base_url, f"{OWN_CASE}，这是另一位顾客")
        ticket_id = mine["ticket_id"]
        agent = live.client(live.token("agent"))
        supervisor = live.client(live.token("supervisor"))
        with open_stream(live.base_url, mine["customer_token"], last_event_id=0) as stream, agent, supervisor:
            backlog = list(stream.backlog)
            assert agent.post(f"/api/v1/tickets/{ticket_id}/claim").status_code == 200
            assert supervisor.post(f"/api/v1/tickets/{ticket_id}/escalate", json={"reason": SECRET_REASON}).is_success
            assert agent.post(f"/api/v1/tickets/{ticket_id}/reroute", json={"intent": "complaint"}).is_success
            reply = agent.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "您好，已为您加急处理"})
            assert reply.status_code == 201
            assert agent.post(f"/api/v1/tickets/{other['ticket_id']}/messages", json={"body": "别人的回复"}).is_success
            assert agent.post(f"/api/v1/tickets/{ticket_id}/resolve").status_code == 200
            events = stream.read_until(lambda e: e.type == "ticket.resolved")
        assert [e.type for e in backlog] == ["ticket.created"]
        assert backlog[0].data["message"]["body"] == OWN_CASE
        assert [e.type for e in events] == ["ticket.assigned", "ticket.replied", "ticket.resolved"]
        assert events[1].data["message"]["body"] == "您好，已为您加急处理"
        for event in [*backlog, *events]:
            assert event.data["ticket_id"] == ticket_id
            assert event.type in CUSTOMER_TYPES
            assert set(event.data) <= CUSTOMER_KEYS  # no details, queue, priority, actor
        raw = "\n".join(stream.raw)
        for hidden in (SECRET_REASON, "sla.", "after_sales", "complaint", "别人的回复", "triaged"):
            assert hidden not in raw
        with session_scope(live.engine) as session:
            internal = session.exec(select(Event.type).where(Event.ticket_id == ticket_id)).all()
        assert {"sla.started", "sla.met", "ticket.escalated", "ticket.rerouted", "ticket.triaged"} <= set(internal)

    def test_another_ticket_is_refused_as_not_visible(self, live: LiveServer) -> None:
        mine = inquiry(live.base_url, OWN_CASE)
        other = inquiry(live.base_url, INVOICE)
        with live.client(mine["customer_token"]) as me:
            response = me.get("/api/v1/events/stream", params={"ticket_id": other["ticket_id"]})
        assert response.status_code == 404  # api.md: a ticket the caller may not see is 404

    def test_roles_without_a_stream(self, live: LiveServer) -> None:
        with httpx.Client(base_url=live.base_url) as anonymous:
            assert anonymous.get("/api/v1/events/stream").status_code == 401
        with live.client(live.token("integration")) as integration:
            assert integration.get("/api/v1/events/stream").status_code == 403


class TestReplay:
    @pytest.mark.parametrize("how", ["header", "query"])
    def test_reconnecting_replays_exactly_what_was_missed(self, live: LiveServer, how: str) -> None:
        supervisor = live.token("supervisor")
        with open_stream(live.base_url, supervisor) as stream:
            inquiry(live.base_url, OWN_CASE)  # 5 events: created, triaged, queued, 2 x sla.started
            first = stream.take(3)  # disconnect in the middle of that burst
        missed_ticket = inquiry(live.base_url, INVOICE)
        with live.client(live.token("agent")) as agent:
            agent.post(f"/api/v1/tickets/{missed_ticket['ticket_id']}/messages", json={"body": "已补开发票"})
        missed = event_ids(live.engine, first[-1].id)
        assert len(missed) >= 8
        resume = {"last_event_id": first[-1].id} if how == "header" else {"params": {"after": first[-1].id}}
        with open_stream(live.base_url, supervisor, **resume) as again:
            replayed = list(again.backlog)
            inquiry(live.base_url, LOGIN)
            last = last_event_id(live.engine)
            live_events = again.read_until(upto(last))
        received = [e.id for e in [*first, *replayed, *live_events]]
        assert [e.id for e in replayed] == missed  # exactly the missed ones, before ': connected'
        assert received == event_ids(live.engine)  # none lost, none repeated, in order

    def test_replay_with_a_filter_and_a_backlog_larger_than_a_batch(self, live: LiveServer) -> None:
        ticket_id = inquiry(live.base_url, OWN_CASE)["ticket_id"]
        now = dt.datetime.now(dt.UTC)
        rows = [
            lifecycle.event_row(ticket_id, "sla.warning" if i % 3 == 0 else "ticket.noise", lifecycle.SYSTEM, now)
            for i in range(2500)
        ]
        with session_scope(live.engine) as session:
            lifecycle.record_many(session, rows)
        with session_scope(live.engine) as session:
            wanted = [i for i in session.exec(select(Event.id).where(Event.type == "sla.warning")) if i is not None]
        with open_stream(live.base_url, live.token("supervisor"), {"type": "sla.warning"}, last_event_id=0) as stream:
            replayed = [e.id for e in stream.backlog]
        assert len(wanted) == 834
        assert replayed == sorted(wanted)

    def test_a_new_client_without_last_event_id_gets_only_new_events(self, live: LiveServer) -> None:
        for text in (OWN_CASE, INVOICE):  # nobody is listening yet: not news to the client that comes later
            inquiry(live.base_url, text)
        with open_stream(live.base_url, live.token("supervisor")) as stream:
            sentinel = inquiry(live.base_url, LOGIN)
            events = stream.read_until(lambda e: e.data["ticket_id"] == sentinel["ticket_id"])
        assert {e.data["ticket_id"] for e in events} == {sentinel["ticket_id"]}


def insert_event(session: Session, ticket_id: int, kind: str) -> int:
    row = lifecycle.event_row(ticket_id, kind, lifecycle.SYSTEM, dt.datetime.now(dt.UTC))
    return int(session.connection().execute(insert(events_table).values(row).returning(events_table.c.id)).scalar_one())


class TestOutOfOrderCommits:
    def test_an_id_committed_after_a_later_one_is_not_lost(self, live: LiveServer, database_url: str) -> None:
        """On PostgreSQL a transaction can take id 7, another take id 8 and commit first: 7 must still come."""
        if database_url.startswith("sqlite"):
            pytest.skip("SQLite has one writer at a time: event ids become visible in order")
        ticket_id = inquiry(live.base_url, OWN_CASE)["ticket_id"]
        with open_stream(live.base_url, live.token("supervisor"), {"type": "sla.warning"}) as stream:
            with Session(live.engine) as slow:
                slow_id = insert_event(slow, ticket_id, "sla.warning")
                with session_scope(live.engine) as fast:
                    fast_id = insert_event(fast, ticket_id, "sla.warning")
                assert fast_id > slow_id
                time.sleep(0.6)  # the hub polls (every 0.2 s) while only the later id is visible
                slow.commit()
            with session_scope(live.engine) as session:
                sentinel = insert_event(session, ticket_id, "sla.warning")
            events = stream.read_until(upto(sentinel))
        assert [e.id for e in events] == [slow_id, fast_id, sentinel]


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    with ThreadPoolExecutor(2) as pool:  # the database is migrated already, so they may start together
        first, second = pool.map(start_process, [database_url, database_url])
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


class TestAcrossProcesses:
    def test_events_written_by_one_process_reach_a_client_of_the_other(
        self, database_url: str, two_processes: tuple[ServeProcess, ServeProcess]
    ) -> None:
        writer, reader = two_processes
        engine = make_engine(database_url)
        supervisor, agent = make_token(engine, "supervisor"), make_token(engine, "agent")
        try:
            with open_stream(reader.base_url, supervisor, {"type": "ticket."}) as stream:
                created = inquiry(writer.base_url, OWN_CASE)
                ticket_id = created["ticket_id"]
                reply = httpx.post(
                    f"{writer.base_url}/api/v1/tickets/{ticket_id}/messages",
                    json={"body": "您好，已为您查询"},
                    headers={"Authorization": f"Bearer {agent}"},
                )
                assert reply.status_code == 201
                with session_scope(engine) as session:
                    written = session.exec(
                        select(Event.id, Event.type)
                        .where(col(Event.type).startswith("ticket."))
                        .order_by(col(Event.id))
                    ).all()
                events = stream.read_until(upto(int(written[-1][0] or 0)))
            assert [(e.id, e.type) for e in events] == [(i, t) for i, t in written]
            assert [e.type for e in events] == [
                "ticket.created",
                "ticket.triaged",
                "ticket.queued",
                "ticket.assigned",
                "ticket.replied",
                "ticket.first_response",
            ]
            assert events[4].data["message"]["body"] == "您好，已为您查询"
        finally:
            engine.dispose()
