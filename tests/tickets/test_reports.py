"""Supervisor reports against hand-computed numbers: GET /api/v1/reports/sla (per channel, queue, agent,
local day; JSON and CSV) and GET /api/v1/reports/kpi. Most tickets are written with the ORM for exact
values; one test drives real tickets through the API on a frozen clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.tickets.conftest import T0, LiveServer, migrated_database, start_server
from tickets.auth import create_user
from tickets.db import session_scope
from tickets.models import Customer, Event, Ticket
from triage import TriageModel

UTC = dt.UTC
PERIOD = {"from": "2026-11-20", "to": "2026-11-27"}  # local days, Asia/Shanghai: [11-19 16:00Z, 11-26 16:00Z)
KPI_PERIOD = {"from": "2026-10-12", "to": "2026-10-19"}
RESOLUTION_PERIOD = {"from": "2026-09-07", "to": "2026-09-14"}
COLUMNS = (
    "tickets_with_target",
    "met",
    "breached",
    "running",
    "compliance_rate",
    "median_first_response_seconds",
    "p90_first_response_seconds",
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def add_ticket(
    session: Session,
    created_at: dt.datetime,
    *,
    channel: str = "chat",
    queue: str = "after_sales",
    state: str | None = None,
    seconds: float | None = None,
    assignee: int | None = None,
    status: str = "open",
    intent: str = "refund",
    subject: str = "我的退款还没到账",
    handed_over: bool = True,
    auto_replied: bool = False,
    resolved: bool = False,
    close_reason: str | None = None,
    reopen_count: int = 0,
    rating: int | None = None,
) -> Ticket:
    customer = Customer(created_at=created_at)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    ticket = Ticket(
        customer_id=customer.id,
        customer_token_hash=uuid.uuid4().hex,
        channel=channel,
        status=status,
        subject=subject,
        intent=intent,
        queue=queue,
        priority="normal",
        confidence=0.9,
        auto_replied=auto_replied,
        model_version="fixture",
        explanation=[],
        assignee_id=assignee,
        reopen_count=reopen_count,
        rating=rating,
        close_reason=close_reason,
        created_at=created_at,
        updated_at=created_at,
        handed_over_at=created_at if handed_over else None,
        resolved_at=created_at + dt.timedelta(hours=1) if resolved else None,
        closed_at=created_at + dt.timedelta(hours=2) if status == "closed" else None,
        first_response_state=state,
        first_response_seconds=seconds,
    )
    session.add(ticket)
    session.flush()
    assert ticket.id is not None
    if auto_replied:
        session.add(Event(ticket_id=ticket.id, type="ticket.auto_replied", actor_type="system", created_at=created_at))
    return ticket


def get_json(live: LiveServer, path: str, **params: str) -> Any:
    with live.client(live.token("supervisor")) as supervisor:
        response = supervisor.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def rows(report: dict[str, Any], group_by: str) -> dict[Any, tuple[Any, ...]]:
    return {g[group_by]: tuple(g[c] for c in COLUMNS) for g in report["groups"]}


# --------------------------------------------------------------------------- SLA report


def seed_sla(engine: Engine) -> dict[str, int]:
    """14 tickets with known first-response outcomes; two fall just outside the period.

    #   created (UTC)        local day  channel queue        agent  state      seconds
    1   11-19 16:00:00       11-20      chat    after_sales  A      met        10   (exactly 'from')
    2   11-24 03:00          11-24      chat    after_sales  A      met        20
    3   11-24 15:59:59       11-24      chat    after_sales  B      breached   40
    14  11-24 05:00          11-24      chat    after_sales  A      cancelled  -
    4   11-24 16:00          11-25      chat    billing      -      running    -
    5   11-25 02:00          11-25      chat    billing      B      met        5
    6   11-25 03:00          11-25      phone   after_sales  B      met        8
    7   11-26 01:00          11-26      phone   after_sales  A      breached   30
    8   11-26 02:00          11-26      phone   after_sales  -      breached   -    (never answered)
    9   11-26 03:00          11-26      phone   billing      -      warned     -
    10  11-26 04:00          11-26      email   billing      A      met        3600
    11  11-26 05:00          11-26      email   general      -      (auto-replied: no target)
    12  11-19 15:59:59       11-19      chat    after_sales  A      met        1    (before 'from')
    13  11-26 16:00:00       11-27      chat    after_sales  A      met        1    (at 'to', excluded)
    """
    with session_scope(engine) as session:
        a, _ = create_user(session, "张三", "agent", T0)
        b, _ = create_user(session, "李四", "agent", T0)
        assert a.id is not None
        assert b.id is not None
        add_ticket(session, utc(2026, 11, 19, 16, 0, 0), state="met", seconds=10, assignee=a.id)
        add_ticket(session, utc(2026, 11, 24, 3, 0), state="met", seconds=20, assignee=a.id)
        add_ticket(session, utc(2026, 11, 24, 15, 59, 59), state="breached", seconds=40, assignee=b.id)
        add_ticket(session, utc(2026, 11, 24, 16, 0), queue="billing", state="running")
        add_ticket(session, utc(2026, 11, 25, 2, 0), queue="billing", state="met", seconds=5, assignee=b.id)
        add_ticket(session, utc(2026, 11, 25, 3, 0), channel="phone", state="met", seconds=8, assignee=b.id)
        add_ticket(session, utc(2026, 11, 26, 1, 0), channel="phone", state="breached", seconds=30, assignee=a.id)
        add_ticket(session, utc(2026, 11, 26, 2, 0), channel="phone", state="breached")
        add_ticket(session, utc(2026, 11, 26, 3, 0), channel="phone", queue="billing", state="warned")
        add_ticket(
            session, utc(2026, 11, 26, 4, 0), channel="email", queue="billing", state="met", seconds=3600, assignee=a.id
        )
        add_ticket(
            session,
            utc(2026, 11, 26, 5, 0),
            channel="email",
            queue="general",
            status="auto_replied",
            handed_over=False,
            auto_replied=True,
        )
        add_ticket(session, utc(2026, 11, 19, 15, 59, 59), state="met", seconds=1, assignee=a.id)
        add_ticket(session, utc(2026, 11, 26, 16, 0), state="met", seconds=1, assignee=a.id)
        add_ticket(session, utc(2026, 11, 24, 5, 0), state="cancelled", assignee=a.id, status="closed")
        return {"A": a.id, "B": b.id}


def seed_resolution(engine: Engine) -> None:
    """Three accepted FAQ answers that never reached a person, one handed-over ticket resolved, one not."""
    day = utc(2026, 9, 9, 2, 0)
    with session_scope(engine) as session:
        for _ in range(3):
            add_ticket(session, day, status="closed", handed_over=False, auto_replied=True, close_reason="confirmed")
        add_ticket(session, day, status="resolved", resolved=True)
        add_ticket(session, day, status="open")


@dataclass(frozen=True)
class Reports:
    """One server and database per backend for the report tests, seeded once: the tests only read."""

    live: LiveServer
    agents: dict[str, int]

    def get(self, path: str, **params: str) -> Any:
        return get_json(self.live, path, **params)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: TriageModel
) -> Iterator[Reports]:
    with migrated_database(request.param, tmp_path_factory.mktemp("reports")) as url:
        live = start_server(url, model)
        try:
            agents = seed_sla(live.engine)
            seed_kpi(live.engine)
            seed_resolution(live.engine)
            yield Reports(live, agents)
        finally:
            live.stop()


class TestSlaReport:
    def test_by_channel(self, reports: Reports) -> None:
        report = reports.get("/api/v1/reports/sla", group_by="channel", **PERIOD)
        assert report["group_by"] == "channel"
        assert dt.datetime.fromisoformat(report["from"]) == utc(2026, 11, 19, 16, 0)
        assert dt.datetime.fromisoformat(report["to"]) == utc(2026, 11, 26, 16, 0)
        assert [g["channel"] for g in report["groups"]] == ["chat", "email", "phone"]
        assert rows(report, "channel") == {
            # with target, met, breached, running, compliance, median, p90 (nearest rank)
            "chat": (6, 3, 1, 1, 0.75, 10.0, 40.0),  # seconds 5, 10, 20, 40
            "email": (1, 1, 0, 0, 1.0, 3600.0, 3600.0),
            "phone": (4, 1, 2, 1, 0.3333, 8.0, 30.0),  # seconds 8, 30
        }

    def test_by_queue(self, reports: Reports) -> None:
        report = reports.get("/api/v1/reports/sla", group_by="queue", **PERIOD)
        assert rows(report, "queue") == {
            "after_sales": (7, 3, 3, 0, 0.5, 20.0, 40.0),  # seconds 8, 10, 20, 30, 40
            "billing": (4, 2, 0, 2, 1.0, 5.0, 3600.0),  # seconds 5, 3600
        }

    def test_by_agent(self, reports: Reports) -> None:
        report = reports.get("/api/v1/reports/sla", group_by="agent", **PERIOD)
        assert [(g["agent"], g["agent_id"]) for g in report["groups"]] == [
            ("未分配", None),
            ("张三", reports.agents["A"]),
            ("李四", reports.agents["B"]),
        ]
        assert rows(report, "agent") == {
            "未分配": (3, 0, 1, 2, 0.0, None, None),  # nobody answered any of them
            "张三": (5, 3, 1, 0, 0.75, 20.0, 3600.0),  # seconds 10, 20, 30, 3600
            "李四": (3, 2, 1, 0, 0.6667, 8.0, 40.0),  # seconds 5, 8, 40
        }

    def test_by_local_day(self, reports: Reports) -> None:
        report = reports.get("/api/v1/reports/sla", group_by="day", **PERIOD)
        assert rows(report, "day") == {
            "2026-11-20": (1, 1, 0, 0, 1.0, 10.0, 10.0),
            "2026-11-24": (3, 1, 1, 0, 0.5, 20.0, 40.0),  # 15:59:59Z is still the 24th in Shanghai
            "2026-11-25": (3, 2, 0, 1, 1.0, 5.0, 8.0),  # 16:00Z on the 24th is the 25th
            "2026-11-26": (4, 1, 2, 1, 0.3333, 30.0, 3600.0),
        }

    def test_an_explicit_time_range_with_offset(self, reports: Reports) -> None:
        period = {"from": "2026-11-26T00:00:00+00:00", "to": "2026-11-26T03:00:00Z"}
        report = reports.get("/api/v1/reports/sla", group_by="channel", **period)
        assert rows(report, "channel") == {"phone": (2, 0, 2, 0, 0.0, 30.0, 30.0)}

    def test_csv_by_agent(self, reports: Reports) -> None:
        with reports.live.client(reports.live.token("supervisor")) as supervisor:
            response = supervisor.get("/api/v1/reports/sla", params={"group_by": "agent", "format": "csv", **PERIOD})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(response.text))) == [
            ["agent", *COLUMNS],
            ["未分配", "3", "0", "1", "2", "0.0", "", ""],
            ["张三", "5", "3", "1", "0", "0.75", "20.0", "3600.0"],
            ["李四", "3", "2", "1", "0", "0.6667", "8.0", "40.0"],
        ]

    def test_csv_by_channel(self, reports: Reports) -> None:
        with reports.live.client(reports.live.token("admin")) as admin:
            text = admin.get("/api/v1/reports/sla", params={"format": "csv", **PERIOD}).text
        assert list(csv.reader(io.StringIO(text))) == [
            ["channel", *COLUMNS],
            ["chat", "6", "3", "1", "1", "0.75", "10.0", "40.0"],
            ["email", "1", "1", "0", "0", "1.0", "3600.0", "3600.0"],
            ["phone", "4", "1", "2", "1", "0.3333", "8.0", "30.0"],
        ]

    def test_empty_period_and_bad_ranges(self, reports: Reports) -> None:
        assert reports.get("/api/v1/reports/sla", **{"from": "2025-01-01", "to": "2025-01-02"})["groups"] == []
        with reports.live.client(reports.live.token("supervisor")) as supervisor:
            backwards = supervisor.get("/api/v1/reports/sla", params={"from": "2026-11-27", "to": "2026-11-20"})
            naive = supervisor.get("/api/v1/reports/sla", params={"from": "2026-11-20T00:00:00"})
            unknown = supervisor.get("/api/v1/reports/sla", params={"group_by": "priority"})
        assert (backwards.status_code, naive.status_code, unknown.status_code) == (422, 422, 422)


class TestThroughTheApi:
    def test_first_response_seconds_of_real_tickets(self, live: LiveServer) -> None:
        """Chat (24x7) answered after 12.5 s and 40 s, one unanswered; email answered the next morning."""
        live.clock.freeze(T0)  # Tuesday 17:00 in Shanghai
        with live.client(live.token("integration")) as gateway:
            ids = [
                gateway.post("/api/v1/inquiries", json={"channel": channel, "text": text}).json()["ticket_id"]
                for channel, text in [
                    ("chat", "我的退款申请了5天了还没到账，订单号2024112233"),
                    ("chat", "我买的耳机左边没声音 订单2024112234"),
                    ("chat", "账号登录不上去，一直提示密码错误"),
                    ("email", "我的发票一直没收到 订单尾号3321"),
                ]
            ]
        with live.client(live.token("agent")) as agent:
            live.clock.advance(seconds=12.5)
            assert agent.post(f"/api/v1/tickets/{ids[0]}/messages", json={"body": "您好"}).status_code == 201
            live.clock.advance(seconds=27.5)
            assert agent.post(f"/api/v1/tickets/{ids[1]}/messages", json={"body": "您好"}).status_code == 201
            live.clock.freeze(T0 + dt.timedelta(hours=16, minutes=30))  # Wednesday 09:30 in Shanghai
            assert agent.post(f"/api/v1/tickets/{ids[3]}/messages", json={"body": "您好"}).status_code == 201
        report = get_json(live, "/api/v1/reports/sla", group_by="channel")  # default: the 7 days up to now
        assert rows(report, "channel") == {
            "chat": (3, 1, 1, 1, 0.5, 12.5, 40.0),
            "email": (1, 1, 0, 0, 1.0, 5400.0, 5400.0),  # 17:00-18:00 and 09:00-09:30 working time
        }


# --------------------------------------------------------------------------- KPI report

COMPLAINTS = ("客服态度太差了，我要投诉", "快递员态度恶劣，投诉到底", "退款拖了一个月，客服态度敷衍，我要投诉")


def seed_kpi(engine: Engine) -> None:
    """Ten tickets on 2026-10-14 (local), and one the week before:

    a  auto-replied, accepted (closed confirmed, rating 5)
    b  auto-replied, accepted (closed confirmed)
    c  auto-replied, rejected -> handed over, first response met 30 s, closed confirmed, rating 4
    d  auto-replied, still waiting
    e  direct, first response met 10 s, resolved (awaiting confirmation)
    f  direct, first response breached 100 s, resolved then auto-closed unconfirmed
    g  direct, complaint, first response met 20 s, reopened once, open
    h  direct, complaint, open, first response running
    i  direct, complaint, closed confirmed, rating 2
    j  direct, pending customer
    """
    day = utc(2026, 10, 14, 2, 0)
    with session_scope(engine) as session:
        closed: dict[str, Any] = {"status": "closed", "resolved": False}
        add_ticket(session, day, **closed, handed_over=False, auto_replied=True, close_reason="confirmed", rating=5)
        add_ticket(session, day, **closed, handed_over=False, auto_replied=True, close_reason="confirmed")
        add_ticket(
            session, day, **closed, auto_replied=True, close_reason="confirmed", rating=4, state="met", seconds=30
        )
        add_ticket(session, day, status="auto_replied", handed_over=False, auto_replied=True)
        add_ticket(session, day, status="resolved", resolved=True, state="met", seconds=10)
        add_ticket(
            session, day, status="closed", resolved=True, close_reason="unconfirmed", state="breached", seconds=100
        )
        add_ticket(session, day, intent="complaint", subject=COMPLAINTS[0], reopen_count=1, state="met", seconds=20)
        add_ticket(session, day, intent="complaint", subject=COMPLAINTS[1], state="running")
        add_ticket(
            session, day, **closed, intent="complaint", subject=COMPLAINTS[2], close_reason="confirmed", rating=2
        )
        add_ticket(session, day, status="pending_customer", subject="我的发票一直没收到")
        add_ticket(session, utc(2026, 10, 5), status="closed", close_reason="confirmed", rating=1)  # outside


class TestKpiReport:
    def test_figures(self, reports: Reports) -> None:
        kpi = reports.get("/api/v1/reports/kpi", **KPI_PERIOD)
        assert kpi["tickets"] == 10
        assert kpi["auto_reply_rate"] == 0.4  # a b c d
        assert kpi["auto_reply_acceptance"] == 0.5  # a b of a b c d
        assert kpi["confirmed_closure_rate"] == 0.8  # a b c i of a b c f i
        assert kpi["reopen_rate"] == 0.1429  # g of the 7 handed over (c e f g h i j)
        assert kpi["csat"] == {"mean": 3.667, "share_4_or_5": 0.6667, "ratings": 3}  # 5, 4, 2
        assert kpi["complaint_rate"] == 0.3
        assert kpi["first_response_compliance"] == 0.75  # met c e g, breached f
        assert (kpi["median_first_response_seconds"], kpi["p90_first_response_seconds"]) == (20.0, 100.0)

    def test_top_complaint_keywords_come_from_complaints_only(self, reports: Reports) -> None:
        keywords = reports.get("/api/v1/reports/kpi", **KPI_PERIOD)["top_complaint_keywords"]
        assert keywords
        by_word = {k["keyword"]: k for k in keywords}
        assert by_word["态度"]["messages"] == 3
        assert "投诉" not in by_word  # every complaint says it: a stopword for this report
        assert all(set(k) == {"keyword", "weight", "messages"} for k in keywords)
        assert "发票" not in by_word  # that ticket is not a complaint

    def test_an_empty_period_has_no_rates(self, reports: Reports) -> None:
        kpi = reports.get("/api/v1/reports/kpi", **{"from": "2025-01-01", "to": "2025-01-08"})
        assert kpi["tickets"] == 0
        rates = ("auto_reply_rate", "auto_reply_acceptance", "resolution_rate", "reopen_rate", "complaint_rate")
        assert [kpi[r] for r in rates] == [None] * len(rates)
        assert kpi["csat"] == {"mean": None, "share_4_or_5": None, "ratings": 0}
        assert kpi["top_complaint_keywords"] == []

    def test_resolution_rate_is_the_share_of_handed_over_tickets_resolved(self, reports: Reports) -> None:
        kpi = reports.get("/api/v1/reports/kpi", **RESOLUTION_PERIOD)
        assert kpi["tickets"] == 5
        assert kpi["resolution_rate"] == 0.5  # 1 of the 2 handed-over tickets; the code says 4 / 2 = 2.0


class TestRoles:
    @pytest.mark.parametrize("path", ["/api/v1/reports/sla", "/api/v1/reports/kpi"])
    def test_supervisor_and_admin_only(self, reports: Reports, path: str) -> None:
        live = reports.live
        for role, expected in (("supervisor", 200), ("admin", 200), ("agent", 403), ("integration", 403)):
            with live.client(live.token(role)) as client:
                assert client.get(path).status_code == expected, role
        with live.client() as anonymous:
            assert anonymous.get(path).status_code == 401
