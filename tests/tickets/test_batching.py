"""Group commit of new inquiries (``tickets.batching``), on SQLite and PostgreSQL.

* concurrent inquiries through real HTTP are all stored, each with its own customer, messages and
  audit events, and each customer token opens exactly its own ticket;
* inquiries arriving together share one transaction, and one the database refuses fails alone:
  the others of its batch are stored as if nothing happened;
* nothing is acknowledged before it is committed: a request waits while the database cannot
  commit, and after ``kill -9`` of a server in the middle of a burst every ticket it answered
  201 for is there after a restart, complete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from tests.tickets.conftest import LiveServer, make_token
from tests.tickets.support import start_process
from tickets import service
from tickets.auth import Principal, hash_token, revoke_user
from tickets.batching import InquiryWriter, WriterStopped
from tickets.db import make_engine, read_only, session_scope
from tickets.errors import Unauthorized
from tickets.metrics import Metrics
from tickets.models import Customer, Event, Message, Ticket, User
from tickets.sla.policy import load_policies
from tickets.sla.tracking import SlaTracker
from triage import TriageModel

TRIAGE = str(Path(sys.executable).with_name("triage"))
TRACKER = SlaTracker(load_policies())
TEXTS = (
    "我的退款申请了5天了还没到账，订单号2024112233",
    "退款多久能到账",
    "快递到哪了 单号SF1234567890",
    "怎么开发票",
    "耳机左边没声音，刚买的",
    "你们的客服电话是多少",
    "优惠券怎么用不了",
    "我要投诉你们的快递员态度太差",
)
CALL_CENTRE = Principal("integration", user_id=None)


# --------------------------------------------------------------------------------------------------
# Checks shared by the tests
# --------------------------------------------------------------------------------------------------


def assert_stored(engine: Engine, sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Each acknowledged inquiry (its text, its 201 body) is one complete, consistent ticket."""
    with session_scope(engine) as session:
        for text, created in sent:
            ticket = session.get(Ticket, created["ticket_id"])
            assert ticket is not None, created
            assert ticket.customer_token_hash == hash_token(created["customer_token"])
            assert ticket.status == created["status"]
            assert (ticket.intent, ticket.queue) == (created["triage"]["intent"], created["triage"]["queue"])
            assert session.get(Customer, ticket.customer_id) is not None
            messages = session.exec(
                select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))
            ).all()
            events = session.exec(select(Event).where(Event.ticket_id == ticket.id).order_by(col(Event.id))).all()
            assert messages[0].body == text
            assert messages[0].author_type == "customer"
            types = [e.type for e in events]
            assert types[:2] == ["ticket.created", "ticket.triaged"], types
            assert events[0].to_status == ticket.status
            assert events[0].message_id == messages[0].id
            if created["auto_reply"] is not None:
                assert ticket.status == "auto_replied"
                assert [m.kind for m in messages] == ["text", "auto_reply"]
                assert messages[1].body == created["auto_reply"]["answer"]
                assert types[2:] == ["ticket.auto_replied"]
                assert events[2].message_id == messages[1].id
            else:
                assert ticket.status == "open"
                assert len(messages) == 1
                assert types[2] == "ticket.queued"
                started = sorted(e.details["metric"] for e in events[3:] if e.type == "sla.started")
                assert started == ["first_response", "resolution"], types
                assert ticket.handed_over_at is not None
                assert ticket.sla_policy is not None


def assert_nothing_half_written(engine: Engine) -> None:
    """Every ticket in the database has its first message and its creation event."""
    with session_scope(engine) as session:
        tickets = set(session.exec(select(Ticket.id)).all())
        with_message = set(session.exec(select(Message.ticket_id).where(Message.author_type == "customer")).all())
        with_event = set(session.exec(select(Event.ticket_id).where(Event.type == "ticket.created")).all())
    assert tickets == with_message == with_event


def count(engine: Engine, model: Any) -> int:
    with read_only(engine) as connection:  # takes no write lock, so it also works while one is held
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def post(base_url: str, token: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base_url}/api/v1/inquiries", json=body, headers=headers, timeout=60)


# --------------------------------------------------------------------------------------------------
# Through real HTTP
# --------------------------------------------------------------------------------------------------


class TestConcurrentInquiries:
    def test_all_are_stored_with_their_own_messages_and_events(self, live: LiveServer) -> None:
        integration = live.token("integration")
        first = post(live.base_url, None, {"channel": "chat", "text": "耳机左边没声音"}).json()
        jobs: list[tuple[str | None, dict[str, Any]]] = []
        for i in range(96):
            text = f"{TEXTS[i % len(TEXTS)]} 第{i}次"
            body: dict[str, Any] = {"channel": ("chat", "web", "email")[i % 3], "text": text}
            if i % 4 == 1:  # a vouched-for identity: the same few customers again and again
                body["customer"] = {"external_id": f"crm-{i % 3}", "phone": f"1380000{i:04d}"}
            token = first["customer_token"] if i % 8 == 3 else integration  # a customer writing again
            jobs.append((token, body))

        with ThreadPoolExecutor(max_workers=24) as pool:
            responses = list(pool.map(lambda job: post(live.base_url, *job), jobs))

        assert [r.status_code for r in responses] == [201] * len(jobs), [r.text for r in responses][:3]
        created = [r.json() for r in responses]
        assert len({c["ticket_id"] for c in created}) == len(jobs)
        assert_stored(live.engine, [(body["text"], c) for (_, body), c in zip(jobs, created, strict=True)])
        assert_nothing_half_written(live.engine)
        with session_scope(live.engine) as session:
            customer_of = {t.id: t.customer_id for t in session.exec(select(Ticket)).all()}
            by_external = {c.external_id: c for c in session.exec(select(Customer)).all() if c.external_id}
        assert sorted(by_external) == ["crm-0", "crm-1", "crm-2"]  # found again, never duplicated
        for (token, body), c in zip(jobs, created, strict=True):
            if token == first["customer_token"]:
                assert customer_of[c["ticket_id"]] == customer_of[first["ticket_id"]]
            elif "customer" in body:
                assert customer_of[c["ticket_id"]] == by_external[body["customer"]["external_id"]].id
        # Each customer token opens its own ticket, and only that one.
        for text, c in zip([b["text"] for _, b in jobs[:12]], created[:12], strict=True):
            own = httpx.get(
                f"{live.base_url}/api/v1/tickets/{c['ticket_id']}",
                headers={"Authorization": f"Bearer {c['customer_token']}"},
            )
            assert own.status_code == 200
            assert own.json()["messages"][0]["body"] == text
        metrics = live.app.state.metrics.counters
        assert metrics["inquiries_stored_total"] == len(jobs) + 1
        assert metrics["inquiry_batches_total"] <= len(jobs) + 1

    def test_a_revoked_token_fails_on_the_very_next_request(self, live: LiveServer) -> None:
        integration = make_token(live.engine, "integration")
        assert post(live.base_url, integration, {"channel": "email", "text": "发票开错了"}).status_code == 201
        with session_scope(live.engine) as session:
            user = session.exec(select(User).where(User.token_hash == hash_token(integration))).one()
            assert user.id is not None
            revoke_user(session, user.id, dt.datetime.now(dt.UTC))
        refused = post(live.base_url, integration, {"channel": "email", "text": "发票开错了"})
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]


class TestNoAcknowledgementBeforeCommit:
    def test_the_reply_waits_while_the_database_cannot_commit(self, live: LiveServer, database_url: str) -> None:
        integration = live.token("integration")
        with ThreadPoolExecutor(max_workers=1) as pool:
            release = hold_write_lock(database_url)
            try:
                pending = pool.submit(post, live.base_url, integration, {"channel": "email", "text": TEXTS[0]})
                time.sleep(0.8)
                assert not pending.done(), "answered while the transaction could not commit"
                assert count(live.engine, Ticket) == 0
            finally:
                release()
            response = pending.result(timeout=30)
        assert response.status_code == 201
        assert_stored(live.engine, [(TEXTS[0], response.json())])


def hold_write_lock(database_url: str) -> Any:
    """Block every insert into customers (the first table an inquiry writes); returns the release."""
    if database_url.startswith("sqlite"):
        import sqlite3

        blocker: Any = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the write lock: other writers wait (busy timeout)
    else:
        import psycopg

        blocker = psycopg.connect(database_url.replace("+psycopg", ""))
        blocker.execute("LOCK TABLE customers IN EXCLUSIVE MODE")  # reads pass, inserts wait

    def release() -> None:
        blocker.rollback()  # sqlite3: ends the BEGIN IMMEDIATE transaction too
        blocker.close()

    return release


# --------------------------------------------------------------------------------------------------
# The writer itself: batches, failures, shutdown
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def writer(db: Engine) -> Iterator[InquiryWriter]:
    started = InquiryWriter(db, TRACKER, metrics=Metrics())
    started.start()
    yield started
    started.stop()


def prepared(model: TriageModel, text: str, **inquiry: Any) -> service.PreparedInquiry:
    new = service.NewInquiry(
        inquiry.pop("channel", "email"), text, inquiry.pop("customer", service.CustomerInfo()), True, **inquiry
    )
    return service.prepare_inquiry(model, CALL_CENTRE, new, dt.datetime.now(dt.UTC))


async def together(writer: InquiryWriter, batch: list[service.PreparedInquiry]) -> list[Any]:
    """Submit in one pass of the event loop: the writer receives them as one hand-over."""
    return await asyncio.gather(*(writer.store(p) for p in batch), return_exceptions=True)


def as_sent(batch: list[service.PreparedInquiry], results: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            p.inquiry.text,
            {
                "ticket_id": r.ticket_id,
                "status": r.status,
                "customer_token": r.customer_token,
                "triage": {"intent": r.decision.intent, "queue": r.decision.queue},
                "auto_reply": {"answer": r.auto_reply_answer} if r.auto_reply_answer is not None else None,
            },
        )
        for p, r in zip(batch, results, strict=True)
    ]


class TestBatches:
    def test_inquiries_arriving_together_share_one_transaction(
        self, writer: InquiryWriter, db: Engine, model: TriageModel
    ) -> None:
        batch = [prepared(model, f"{TEXTS[i % len(TEXTS)]} #{i}") for i in range(40)]
        results = asyncio.run(together(writer, batch))
        assert writer.metrics is not None
        assert writer.metrics.counters["inquiry_batches_total"] == 1
        assert writer.metrics.counters["inquiries_stored_total"] == 40
        assert [r.ticket_id for r in results] == sorted(r.ticket_id for r in results)  # ids in arrival order
        assert_stored(db, as_sent(batch, results))

    def test_more_than_a_batch_is_written_in_several(self, db: Engine, model: TriageModel) -> None:
        small = InquiryWriter(db, TRACKER, max_batch=8, metrics=Metrics())
        small.start()
        try:
            batch = [prepared(model, f"{TEXTS[i % len(TEXTS)]} #{i}") for i in range(20)]
            results = asyncio.run(together(small, batch))
        finally:
            small.stop()
        assert small.metrics is not None
        assert small.metrics.counters["inquiry_batches_total"] == 3
        assert_stored(db, as_sent(batch, results))

    def test_one_identity_twice_in_a_batch_is_one_customer(self, db: Engine, model: TriageModel) -> None:
        with session_scope(db) as session:
            known = service.create_inquiry(
                session,
                model,
                CALL_CENTRE,
                service.NewInquiry("email", TEXTS[1], service.CustomerInfo(external_id="crm-7", name="王"), True),
                dt.datetime.now(dt.UTC),
                TRACKER,
            )
        batch = [
            prepared(model, TEXTS[0], customer=service.CustomerInfo(external_id="crm-8", name="李")),
            prepared(model, TEXTS[2], customer=service.CustomerInfo(external_id="crm-7", phone="139")),
            prepared(model, TEXTS[3], customer=service.CustomerInfo(external_id="crm-8", email="l@x.cn")),
            prepared(model, TEXTS[4], customer=service.CustomerInfo(external_id="crm-7", name="王五")),
        ]
        with session_scope(db) as session:
            results = service.store_inquiries(session, TRACKER, batch)
        with session_scope(db) as session:
            customers = {c.external_id: c for c in session.exec(select(Customer)).all()}
            owner = {t.id: t.customer_id for t in session.exec(select(Ticket)).all()}
        assert sorted(customers) == ["crm-7", "crm-8"]
        new, old = customers["crm-8"], customers["crm-7"]
        assert (new.name, new.email) == ("李", "l@x.cn")  # as if the two had come one after the other
        assert (old.name, old.phone) == ("王五", "139")
        assert owner[known.ticket_id] == owner[results[1].ticket_id] == owner[results[3].ticket_id] == old.id
        assert owner[results[0].ticket_id] == owner[results[2].ticket_id] == new.id
        assert_stored(db, as_sent(batch, results))


class TestFailures:
    def test_an_inquiry_the_database_refuses_fails_alone(
        self, writer: InquiryWriter, db: Engine, model: TriageModel
    ) -> None:
        batch = [prepared(model, f"{TEXTS[i]} #{i}") for i in range(5)]
        batch[2] = prepared(model, TEXTS[2], existing_customer_id=987654)  # no such customer: a foreign key error
        results = asyncio.run(together(writer, batch))
        assert isinstance(results[2], IntegrityError)
        good = [i for i in range(5) if i != 2]
        assert all(isinstance(results[i], service.CreatedInquiry) for i in good)
        assert_stored(db, as_sent([batch[i] for i in good], [results[i] for i in good]))
        assert count(db, Ticket) == 4
        assert_nothing_half_written(db)
        assert writer.metrics is not None
        assert writer.metrics.counters["inquiries_stored_total"] == 4

    def test_a_refused_inquiry_never_reaches_a_batch(self, writer: InquiryWriter, model: TriageModel) -> None:
        anonymous_call = service.NewInquiry("phone", TEXTS[0], service.CustomerInfo(), False)
        with pytest.raises(Unauthorized):
            asyncio.run(writer.create(model, Principal("anonymous"), anonymous_call, dt.datetime.now(dt.UTC)))
        assert writer.metrics is not None
        assert "inquiry_batches_total" not in writer.metrics.counters

    def test_after_stop_everything_accepted_is_stored_and_new_ones_are_refused(
        self, db: Engine, model: TriageModel
    ) -> None:
        stopping = InquiryWriter(db, TRACKER)
        stopping.start()
        batch = [prepared(model, f"{TEXTS[i % len(TEXTS)]} #{i}") for i in range(10)]

        async def submit_then_stop() -> list[Any]:
            stored = asyncio.gather(*(stopping.store(p) for p in batch))
            await asyncio.sleep(0)  # the stores are queued
            await asyncio.to_thread(stopping.stop)
            return list(await stored)

        results = asyncio.run(submit_then_stop())
        assert_stored(db, as_sent(batch, results))
        with pytest.raises(WriterStopped):
            asyncio.run(stopping.store(prepared(model, TEXTS[0])))


# --------------------------------------------------------------------------------------------------
# kill -9 in the middle of a burst
# --------------------------------------------------------------------------------------------------


def serve(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    started = start_process(database_url)
    return started.proc, started.base_url


@pytest.mark.slow
class TestKilledServer:
    def test_every_acknowledged_ticket_survives_kill_9(self, database_url: str) -> None:
        engine = make_engine(database_url)
        integration = make_token(engine, "integration")
        proc, base = serve(database_url)
        acknowledged: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def burst(worker: int) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {integration}"}, timeout=10) as c:
                i = 0
                while not stop.is_set():
                    text = f"{TEXTS[(worker + i) % len(TEXTS)]} w{worker}-{i}"
                    i += 1
                    try:
                        response = c.post("/api/v1/inquiries", json={"channel": "email", "text": text})
                    except httpx.HTTPError:
                        return  # the server is gone: this request was never acknowledged
                    if response.status_code == 201:
                        with lock:
                            acknowledged.append((text, response.json()))

        try:
            threads = [threading.Thread(target=burst, args=(w,)) for w in range(16)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while len(acknowledged) < 150 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)  # mid-burst: batches in flight are lost, never acknowledged
            proc.wait(timeout=10)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
        assert len(acknowledged) >= 150

        restarted, base = serve(database_url)
        try:
            with session_scope(engine) as session:
                stored = int(session.exec(select(func.count()).select_from(Ticket)).one())
            assert stored >= len(acknowledged)  # plus, at most, committed batches whose replies were lost
            assert_stored(engine, acknowledged)
            assert_nothing_half_written(engine)
            for text, created in acknowledged[::25]:
                own = httpx.get(
                    f"{base}/api/v1/tickets/{created['ticket_id']}",
                    headers={"Authorization": f"Bearer {created['customer_token']}"},
                )
                assert own.status_code == 200
                assert own.json()["messages"][0]["body"] == text
            after = post(base, integration, {"channel": "email", "text": TEXTS[0]})
            assert after.status_code == 201
            assert after.json()["ticket_id"] > max(c["ticket_id"] for _, c in acknowledged)
        finally:
            restarted.terminate()
            restarted.wait(timeout=20)
            engine.dispose()
