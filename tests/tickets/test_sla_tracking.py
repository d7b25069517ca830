"""SLA clocks through the ticket services (tickets.service) with an injected ``now`` on a real database:
the wiring between the lifecycle (hand-over, replies, call_answered, reopen, confirmation) and the
tracker, on SQLite and PostgreSQL. The arithmetic itself is in test_sla_clock.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from tests.tickets.conftest import T0
from tickets import service
from tickets.auth import Principal, create_user
from tickets.db import session_scope
from tickets.models import Event, Ticket
from tickets.sla.policy import load_policies
from tickets.sla.tracking import SlaTracker
from triage import TriageModel

TRACKER = SlaTracker(load_policies())
OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
GENERAL = "退款一般多久能到账？"  # answered by the refund_timeline FAQ
HOUR = 3600.0


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


class Desk:
    """The service functions as the API calls them, each at an explicit moment."""

    def __init__(self, engine: Engine, model: TriageModel) -> None:
        self.engine = engine
        self.model = model
        with session_scope(engine) as session:
            user, _ = create_user(session, "客服小王", "agent", T0)
        self.agent = Principal("agent", user_id=user.id)

    def inquiry(self, text: str, at: dt.datetime = T0, channel: str = "chat") -> int:
        caller = Principal("integration")
        with session_scope(self.engine) as session:
            inquiry = service.NewInquiry(channel, text, service.CustomerInfo(), trusted_identity=True)
            return service.create_inquiry(session, self.model, caller, inquiry, at, TRACKER).ticket_id

    def customer(self, ticket_id: int) -> Principal:
        return Principal("customer", ticket_id=ticket_id, customer_id=self.ticket(ticket_id).customer_id)

    def write(self, ticket_id: int, body: str, at: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            service.post_message(session, self.customer(ticket_id), ticket_id, body, "text", at, TRACKER)

    def reply(self, ticket_id: int, at: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            service.post_message(session, self.agent, ticket_id, "您好，已为您查询", "text", at, TRACKER)

    def answer_call(self, ticket_id: int, at: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            caller = Principal("integration")
            service.post_message(session, caller, ticket_id, "坐席 1002 接起", "call_answered", at, TRACKER)

    def resolve(self, ticket_id: int, at: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            service.resolve(session, self.agent, ticket_id, None, at, TRACKER)

    def confirm(self, ticket_id: int, resolved: bool, at: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            service.confirm(session, self.customer(ticket_id), ticket_id, resolved, None, None, at, TRACKER)

    def ticket(self, ticket_id: int) -> Ticket:
        with session_scope(self.engine) as session:
            found = session.get(Ticket, ticket_id)
            assert found is not None
            return found

    def moments(self, ticket_id: int) -> list[tuple[str, str, dt.datetime]]:
        with session_scope(self.engine) as session:
            events = session.exec(
                select(Event)
                .where(Event.ticket_id == ticket_id, col(Event.type).startswith("sla."))
                .order_by(col(Event.id))
            ).all()
        return [(e.type, e.details["metric"], e.created_at) for e in events]


@pytest.fixture
def desk(db: Engine, model: TriageModel) -> Desk:
    return Desk(db, model)


class TestFirstResponse:
    def test_an_faq_auto_reply_starts_nothing_a_rejection_starts_it_at_hand_over(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(GENERAL)
        ticket = desk.ticket(ticket_id)
        assert (ticket.status, ticket.first_response_state, ticket.sla_check_at) == ("auto_replied", None, None)
        rejected = T0 + dt.timedelta(minutes=5)
        desk.confirm(ticket_id, resolved=False, at=rejected)
        ticket = desk.ticket(ticket_id)
        assert (ticket.status, ticket.handed_over_at) == ("open", rejected)
        assert (ticket.first_response_started_at, ticket.first_response_due_at) == (rejected, rejected + s(30))
        assert desk.moments(ticket_id) == [
            ("sla.started", "first_response", rejected),
            ("sla.started", "resolution", rejected),
        ]

    def test_writing_more_after_an_auto_reply_hands_over_but_thanks_does_not(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(GENERAL)
        desk.write(ticket_id, "谢谢", T0 + s(30))
        assert (desk.ticket(ticket_id).status, desk.ticket(ticket_id).first_response_state) == ("auto_replied", None)
        desk.write(ticket_id, "可是我的退款已经十天了还没到", T0 + s(120))
        ticket = desk.ticket(ticket_id)
        assert (ticket.status, ticket.first_response_started_at) == ("open", T0 + s(120))

    def test_a_customer_message_does_not_stop_it_an_agent_reply_does(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(OWN_CASE)
        desk.write(ticket_id, "麻烦快一点", T0 + s(5))
        assert desk.ticket(ticket_id).first_response_state == "running"
        desk.reply(ticket_id, T0 + s(12))
        ticket = desk.ticket(ticket_id)
        assert (ticket.first_response_state, ticket.first_response_seconds) == ("met", 12.0)
        assert ticket.first_response_at == T0 + s(12)
        with session_scope(desk.engine) as session:
            [event] = session.exec(select(Event).where(Event.type == "ticket.first_response")).all()
        assert event.details == {"seconds": 12.0, "met": True}

    def test_call_answered_is_the_phone_first_response(self, desk: Desk) -> None:
        ticket_id = desk.inquiry("喂 我那个手机屏幕摔坏了 能修吗", channel="phone")
        desk.answer_call(ticket_id, T0 + s(10))
        ticket = desk.ticket(ticket_id)
        assert (ticket.first_response_state, ticket.first_response_seconds) == ("met", 10.0)
        assert ("sla.met", "first_response", T0 + s(10)) in desk.moments(ticket_id)

    def test_a_late_reply_is_timed_and_breached(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(OWN_CASE)
        desk.reply(ticket_id, T0 + s(45))
        ticket = desk.ticket(ticket_id)
        assert (ticket.first_response_state, ticket.first_response_seconds) == ("breached", 45.0)

    def test_a_reopen_does_not_restart_it(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(OWN_CASE)
        desk.reply(ticket_id, T0 + s(10))
        desk.resolve(ticket_id, T0 + s(60))
        desk.confirm(ticket_id, resolved=False, at=T0 + s(600))
        ticket = desk.ticket(ticket_id)
        assert (ticket.status, ticket.reopen_count) == ("open", 1)
        assert (ticket.first_response_state, ticket.first_response_started_at) == ("met", T0)
        assert ticket.first_response_seconds == 10.0
        started = [m for m in desk.moments(ticket_id) if m[0] == "sla.started" and m[1] == "first_response"]
        assert started == [("sla.started", "first_response", T0)]


class TestNextResponse:
    def test_acknowledgements_start_no_cycle_a_question_does(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(OWN_CASE)
        desk.reply(ticket_id, T0 + s(10))
        for n, thanks in enumerate(["谢谢", "好的", "收到"], start=1):
            desk.write(ticket_id, thanks, T0 + s(10 + n))
            ticket = desk.ticket(ticket_id)
            assert (ticket.status, ticket.next_response_state) == ("pending_customer", None), thanks
        desk.write(ticket_id, "钱还是没到，能再查一下吗", T0 + s(60))
        ticket = desk.ticket(ticket_id)
        assert (ticket.status, ticket.next_response_state) == ("open", "running")
        assert ticket.next_response_due_at == T0 + s(60 + 120)
        desk.reply(ticket_id, T0 + s(100))
        assert desk.ticket(ticket_id).next_response_state == "met"


class TestResolution:
    def test_waiting_for_the_customer_pauses_and_shifts_the_due_time(self, desk: Desk) -> None:
        ticket_id = desk.inquiry(OWN_CASE)  # normal priority: 48 h, 24x7
        assert desk.ticket(ticket_id).resolution_due_at == T0 + s(48 * HOUR)
        desk.reply(ticket_id, T0 + s(HOUR))  # -> pending_customer: paused
        paused = desk.ticket(ticket_id)
        assert (paused.resolution_state, paused.resolution_due_at, paused.resolution_used_seconds) == (
            "paused",
            None,
            HOUR,
        )
        desk.write(ticket_id, "还是没到账", T0 + s(5 * HOUR))  # back with the team after 4 h
        assert desk.ticket(ticket_id).resolution_due_at == T0 + s(52 * HOUR)
        desk.resolve(ticket_id, T0 + s(6 * HOUR))
        assert desk.ticket(ticket_id).resolution_state == "paused"
        desk.confirm(ticket_id, resolved=True, at=T0 + s(30 * HOUR))
        closed = desk.ticket(ticket_id)
        assert (closed.status, closed.resolution_state) == ("closed", "met")
        kinds = [(kind, at) for kind, metric, at in desk.moments(ticket_id) if metric == "resolution"]
        assert kinds == [
            ("sla.started", T0),
            ("sla.paused", T0 + s(HOUR)),
            ("sla.resumed", T0 + s(5 * HOUR)),
            ("sla.paused", T0 + s(6 * HOUR)),
            ("sla.met", T0 + s(30 * HOUR)),
        ]


def test_email_counts_business_hours_across_the_national_day_holiday(desk: Desk) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    arrived = dt.datetime(2025, 9, 30, 17, 0, tzinfo=shanghai)  # Tuesday, 1 h before closing
    ticket_id = desk.inquiry("我的发票一直没收到 订单尾号3321", at=arrived, channel="email")
    ticket = desk.ticket(ticket_id)
    assert ticket.sla_policy == "邮件"
    assert ticket.first_response_due_at == dt.datetime(2025, 10, 9, 10, 0, tzinfo=shanghai)  # after 1-8 Oct
    desk.reply(ticket_id, dt.datetime(2025, 10, 9, 9, 45, tzinfo=shanghai))
    ticket = desk.ticket(ticket_id)
    assert (ticket.first_response_state, ticket.first_response_seconds) == ("met", 1.75 * HOUR)
