"""Concurrency across threads and processes: claims are atomic, simultaneous writes lose nothing."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.tickets.conftest import LiveServer, make_token
from tests.tickets.support import start_process
from tickets.db import session_scope
from tickets.models import Event, Message

TRIAGE = str(Path(sys.executable).with_name("triage"))


@pytest.fixture
def two_processes(database_url: str) -> Iterator[list[str]]:
    started = [start_process(database_url) for _ in range(2)]
    yield [server.base_url for server in started]
    for server in started:
        server.stop()


def _engine(database_url: str) -> Engine:
    from tickets.db import make_engine

    return make_engine(database_url)


class TestClaimAcrossProcesses:
    def test_exactly_one_of_many_concurrent_claims_wins(self, database_url: str, two_processes: list[str]) -> None:
        engine = _engine(database_url)
        agents = [make_token(engine, "agent") for _ in range(6)]
        integration = make_token(engine, "integration")
        tickets = []
        for i in range(8):
            created = httpx.post(
                f"{two_processes[0]}/api/v1/inquiries",
                json={"channel": "email", "text": f"我的订单{i}直没发货 订单号20241122{i:04d}"},
                headers={"Authorization": f"Bearer {integration}"},
            )
            assert created.status_code == 201
            tickets.append(created.json()["ticket_id"])

        def claim(args: tuple[int, int]) -> tuple[int, int, int]:
            ticket_id, agent_index = args
            base = two_processes[agent_index % 2]
            response = httpx.post(
                f"{base}/api/v1/tickets/{ticket_id}/claim",
                headers={"Authorization": f"Bearer {agents[agent_index]}"},
                timeout=30,
            )
            return ticket_id, agent_index, response.status_code

        jobs = [(t, a) for t in tickets for a in range(len(agents))]
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(claim, jobs))
        for ticket_id in tickets:
            codes = sorted(code for t, _, code in results if t == ticket_id)
            assert codes == [200] + [409] * (len(agents) - 1), (ticket_id, codes)
        with session_scope(engine) as session:
            assigned = session.exec(select(Event).where(Event.type == "ticket.assigned")).all()
        assert sorted(e.ticket_id for e in assigned) == sorted(tickets)
        engine.dispose()


class TestSimultaneousWriters:
    def test_agent_and_customer_writing_at_once_lose_nothing(self, live: LiveServer) -> None:
        created = httpx.post(
            f"{live.base_url}/api/v1/inquiries", json={"channel": "chat", "text": "我买的耳机左边没声音 订单2024112233"}
        ).json()
        ticket_id = created["ticket_id"]
        agent = live.token("agent")

        def write(i: int) -> int:
            token = agent if i % 2 == 0 else created["customer_token"]
            body = f"{'客服' if i % 2 == 0 else '顾客'}消息{i}"
            response = httpx.post(
                f"{live.base_url}/api/v1/tickets/{ticket_id}/messages",
                json={"body": body},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(write, range(40)))
        assert codes == [201] * 40
        with session_scope(live.engine) as session:
            bodies = [m.body for m in session.exec(select(Message).where(Message.ticket_id == ticket_id)).all()]
            events = session.exec(select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)).all()
        assert sorted(bodies[1:]) == sorted(f"{'客服' if i % 2 == 0 else '顾客'}消息{i}" for i in range(40))
        chain: list[Any] = [e for e in events if e.to_status is not None]
        for before, after in itertools.pairwise(chain):
            if after.from_status is not None:
                assert after.from_status == before.to_status, (before.type, after.type)
