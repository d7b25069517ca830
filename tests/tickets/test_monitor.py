"""The SLA monitor: ``check_due`` with an injected ``now`` (each moment once, even run twice or from two
threads), the monitor end to end on a real server in real time, and one active monitor among the
processes sharing a PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from tests.tickets.conftest import T0, LiveServer, make_token, migrated_database
from tests.tickets.support import ServeProcess, open_stream, policy_file, start_process, start_server_with_jobs
from tickets import service
from tickets.auth import Principal
from tickets.db import make_engine, session_scope
from tickets.jobs import ADVISORY_LOCK_KEY
from tickets.models import Event, Ticket
from tickets.sla.monitor import check_due
from tickets.sla.policy import load_policies
from tickets.sla.tracking import SlaTracker
from triage import TriageModel

TRACKER = SlaTracker(load_policies())
CALL = "喂 我那个手机屏幕摔坏了 能修吗"
CALL_CENTRE = Principal("integration")


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def phone_tickets(engine: Engine, model: TriageModel, now: dt.datetime, count: int = 1) -> list[int]:
    """Calls entering the queue at ``now``, through the same service function as the API."""
    ids = []
    with session_scope(engine) as session:
        for i in range(count):
            inquiry = service.NewInquiry("phone", f"{CALL} 第{i}通", service.CustomerInfo(), trusted_identity=True)
            ids.append(service.create_inquiry(session, model, CALL_CENTRE, inquiry, now, TRACKER).ticket_id)
    return ids


def sla_events(engine: Engine, kind: str) -> list[Event]:
    with session_scope(engine) as session:
        return list(session.exec(select(Event).where(Event.type == kind).order_by(col(Event.id))).all())


def per_ticket(engine: Engine, kind: str) -> Counter[tuple[int, str]]:
    return Counter((e.ticket_id, e.details["metric"]) for e in sla_events(engine, kind))


class TestCheckDue:
    def test_a_breach_is_recorded_once_however_often_it_runs(self, db: Engine, model: TriageModel) -> None:
        ids = phone_tickets(db, model, T0, 3)
        assert check_due(db, TRACKER, T0 + s(20)) == 3
        assert check_due(db, TRACKER, T0 + s(20)) == 0
        assert check_due(db, TRACKER, T0 + s(600)) == 0
        assert per_ticket(db, "sla.breached") == Counter({(i, "first_response"): 1 for i in ids})

    def test_due_times_that_passed_while_no_monitor_ran_are_breached_once(self, db: Engine, model: TriageModel) -> None:
        late = phone_tickets(db, model, T0, 3)
        later = T0 + dt.timedelta(minutes=10)
        fresh = phone_tickets(db, model, later)  # warns at +12 s, due at +15 s
        assert check_due(db, TRACKER, later + s(5)) == 3
        breaches = sla_events(db, "sla.breached")
        assert sorted(e.ticket_id for e in breaches) == late
        for event in breaches:  # recorded when the monitor came back, naming the original due time
            assert event.created_at == later + s(5)
            assert event.details["due_at"] == (T0 + s(15)).isoformat()
            assert event.details["policy"] == "电话热线"
        assert sla_events(db, "sla.warning") == []  # no stale warning for a clock already overdue
        with session_scope(db) as session:
            rows = {t.id: t for t in session.exec(select(Ticket)).all()}
        assert {rows[i].first_response_state for i in late} == {"breached"}
        assert rows[fresh[0]].first_response_state == "running"
        assert rows[late[0]].sla_check_at == rows[late[0]].resolution_warn_at  # next look: resolution
        assert check_due(db, TRACKER, later + s(12)) == 1
        assert per_ticket(db, "sla.warning") == Counter({(fresh[0], "first_response"): 1})
        assert check_due(db, TRACKER, later + s(15)) == 1
        assert check_due(db, TRACKER, later + s(15)) == 0
        assert per_ticket(db, "sla.breached") == Counter({(i, "first_response"): 1 for i in [*late, *fresh]})

    def test_two_monitors_at_the_same_time_record_each_moment_once(
        self, db: Engine, database_url: str, model: TriageModel
    ) -> None:
        ids = phone_tickets(db, model, T0, 20)
        other = make_engine(database_url)  # as if from another process
        try:
            for now in (T0 + s(12.5), T0 + s(15.5), T0 + s(16)):
                barrier = threading.Barrier(2)

                def run(engine: Engine, at: dt.datetime = now, gate: threading.Barrier = barrier) -> int:
                    gate.wait()
                    return check_due(engine, TRACKER, at)

                with ThreadPoolExecutor(2) as pool:
                    counts = list(pool.map(run, [db, other]))
                assert sum(counts) == (0 if now == T0 + s(16) else 20), counts
        finally:
            other.dispose()
        assert per_ticket(db, "sla.warning") == Counter({(i, "first_response"): 1 for i in ids})
        assert per_ticket(db, "sla.breached") == Counter({(i, "first_response"): 1 for i in ids})

    def test_a_backlog_is_worked_through_in_batches_oldest_first(self, db: Engine, model: TriageModel) -> None:
        ids = [phone_tickets(db, model, T0 + s(i))[0] for i in range(7)]
        now = T0 + s(60)
        assert [check_due(db, TRACKER, now, batch=3) for _ in range(4)] == [3, 3, 1, 0]
        assert [e.ticket_id for e in sla_events(db, "sla.breached")] == ids

    def test_an_answered_call_is_not_breached(self, db: Engine, model: TriageModel) -> None:
        [answered, unanswered] = phone_tickets(db, model, T0, 2)
        with session_scope(db) as session:
            service.post_message(session, CALL_CENTRE, answered, "坐席 1002 接起", "call_answered", T0 + s(10), TRACKER)
        assert check_due(db, TRACKER, T0 + s(20)) == 1
        assert per_ticket(db, "sla.breached") == Counter({(unanswered, "first_response"): 1})
        assert per_ticket(db, "sla.met") == Counter({(answered, "first_response"): 1})


# --------------------------------------------------------------------------- end to end, real time


@pytest.fixture
def monitored(database_url: str, model: TriageModel) -> Iterator[LiveServer]:
    server = start_server_with_jobs(database_url, model)
    yield server
    server.stop()


class TestMonitorEndToEnd:
    def test_unanswered_call_warns_and_breaches_answered_call_is_met(self, monitored: LiveServer) -> None:
        """Real time: warning at 12 s and breach at 15 s of the phone target, on the live stream."""
        integration = monitored.token("integration")
        with (
            open_stream(monitored.base_url, monitored.token("supervisor"), {"type": "sla."}) as stream,
            monitored.client(integration) as call_centre,
        ):
            start = time.monotonic()
            ids = []
            for n in (1, 2):
                created = call_centre.post("/api/v1/inquiries", json={"channel": "phone", "text": f"{CALL} {n}"})
                assert created.status_code == 201
                ids.append(created.json()["ticket_id"])
            unanswered, answered = ids

            def answer() -> None:
                url = f"/api/v1/tickets/{answered}/messages"
                with monitored.client(integration) as client:
                    client.post(url, json={"body": "坐席 1002 接起", "kind": "call_answered"}).raise_for_status()

            def sentinel() -> None:  # a chat inquiry ends the reading, 16.5 s after the calls came in
                httpx.post(f"{monitored.base_url}/api/v1/inquiries", json={"channel": "chat", "text": "人工客服"})

            timers = [threading.Timer(start + 10 - time.monotonic(), answer)]
            timers.append(threading.Timer(start + 16.5 - time.monotonic(), sentinel))
            for timer in timers:
                timer.start()
            events = stream.read_until(lambda e: e.data["channel"] == "chat")
            for timer in timers:
                timer.join()
        seen = {(e.data["ticket_id"], e.type, e.data["details"]["metric"]): e.at - start for e in events}
        assert len(seen) == len(events), "an SLA moment arrived twice"
        warned = seen[(unanswered, "sla.warning", "first_response")]
        breached = seen[(unanswered, "sla.breached", "first_response")]
        assert 11.5 <= warned < 13.5, warned
        assert 14.5 <= breached <= 16.0, breached
        assert 9.5 <= seen[(answered, "sla.met", "first_response")] < 11.5
        assert {k for k in seen if k[0] == answered and k[1] in ("sla.warning", "sla.breached")} == set()
        with monitored.client(monitored.token("agent")) as agent:
            states = [agent.get(f"/api/v1/tickets/{i}").json()["sla"]["first_response"]["state"] for i in ids]
        assert states == ["breached", "met"]
        assert per_ticket(monitored.engine, "sla.breached") == Counter({(unanswered, "first_response"): 1})


# --------------------------------------------------------------------------- one monitor on PostgreSQL

LOCK_HOLDERS = text(
    """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    # Migrated up front: two processes starting together on an empty database race to create it.
    with migrated_database("postgres", tmp_path) as url:
        yield url


def lock_holders(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(LOCK_HOLDERS, {"key": ADVISORY_LOCK_KEY})]


def wait_for(condition: object, timeout: float, what: str) -> float:
    """Poll ``condition()`` until true; returns the seconds it took (a bounded real-time wait)."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.postgres
class TestSingleActiveMonitor:
    def test_one_leader_each_breach_once_and_a_takeover_after_sigkill(self, postgres_url: str, tmp_path: Path) -> None:
        policies = policy_file(tmp_path, phone="2s")  # warning at 1.6 s, breach at 2 s
        names = ("monitor-a", "monitor-b")
        processes: dict[str, ServeProcess] = {}
        engine = make_engine(postgres_url)
        try:
            with ThreadPoolExecutor(2) as pool:
                started = pool.map(
                    lambda name: start_process(
                        f"{postgres_url}?application_name={name}", TRIAGE_SLA_POLICY_FILE=str(policies)
                    ),
                    names,
                )
                processes.update(zip(names, started, strict=True))
            wait_for(lambda: len(lock_holders(engine)) == 1, 10, "one process takes the advisory lock")
            [leader] = lock_holders(engine)
            elected = time.monotonic()

            token = make_token(engine, "integration")

            def call(name: str, n: int) -> int:
                response = httpx.post(
                    f"{processes[name].base_url}/api/v1/inquiries",
                    json={"channel": "phone", "text": f"{CALL} {n}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 201
                return int(response.json()["ticket_id"])

            ids = [call(names[n % 2], n) for n in range(4)]
            wait_for(lambda: len(sla_events(engine, "sla.breached")) >= 4, 10, "the calls are breached")
            time.sleep(max(0.6, elected + 2.5 - time.monotonic()))  # more ticks; the other retried and failed
            assert lock_holders(engine) == [leader]
            expected = Counter({(i, "first_response"): 1 for i in ids})
            assert per_ticket(engine, "sla.breached") == expected
            assert per_ticket(engine, "sla.warning") == expected

            processes[leader].proc.send_signal(signal.SIGKILL)
            processes[leader].proc.wait(timeout=10)
            [survivor] = [n for n in names if n != leader]
            took = wait_for(lambda: lock_holders(engine) == [survivor], 10, "the other process takes over")
            assert took < 5, took

            ids.append(call(survivor, 9))
            wait_for(lambda: len(sla_events(engine, "sla.breached")) >= 5, 10, "the new call is breached")
            time.sleep(0.6)
            assert per_ticket(engine, "sla.breached") == Counter({(i, "first_response"): 1 for i in ids})
        finally:
            for process in processes.values():
                process.stop()
            engine.dispose()
