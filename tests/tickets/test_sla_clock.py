"""SLA arithmetic as pure functions (tickets.sla.clock and tickets.sla.tracking): explicit datetimes,
in-memory tickets, the shipped policies and the mainland China holiday calendar. No clock, no database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.models import Ticket
from tickets.sla import clock as clocks
from tickets.sla.calendar import CN_MAINLAND, WeeklyHours, WorkCalendar
from tickets.sla.clock import Clock, ClockState
from tickets.sla.policy import load_policies
from tickets.sla.tracking import SlaTracker, columns, read
from triage.ack import is_acknowledgement

POLICIES = load_policies()
TRACKER = SlaTracker(POLICIES)
SH = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
HOUR = 3600.0
ALWAYS = WorkCalendar.always()
BUSINESS = POLICIES.for_ticket("email", "after_sales", "normal").calendar  # type: ignore[union-attr]
OFFICE = WeeklyHours.parse({"mon-fri": "09:00-12:00,13:30-18:00"})


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def new_ticket(channel: str = "chat", now: dt.datetime = T0, *, handed_over: bool = True) -> Ticket:
    """A ticket as the inquiry hot path stores it: the tracker's initial columns, no database."""
    values, _ = TRACKER.initial_columns(channel, "after_sales", "normal", None, now, handed_over=handed_over)
    return Ticket(
        channel=channel,
        status="open" if handed_over else "auto_replied",
        queue="after_sales",
        priority="normal",
        intent="refund",
        subject="",
        confidence=1.0,
        model_version="test",
        customer_id=1,
        customer_token_hash="x",
        created_at=now,
        updated_at=now,
        **values,
    )


def moves(changes: list) -> list[tuple[str, str]]:
    return [(c.metric, c.moment.kind) for c in changes]


def move_status(ticket: Ticket, after: str, now: dt.datetime) -> list[tuple[str, str]]:
    before, ticket.status = ticket.status, after
    return moves(TRACKER.status_changed(ticket, before, after, now))


class TestPolicies:
    def test_shipped_targets(self):
        targets = {p.name: (p.first_response_seconds, p.calendar_name) for p in POLICIES.policies}
        assert targets["电话热线"] == (15, "24x7")
        assert targets["在线客服"] == (30, "24x7")
        assert targets["邮件"] == (2 * HOUR, "business")
        assert POLICIES.warning_share == 0.8

    def test_email_uses_the_mainland_holiday_calendar(self):
        assert BUSINESS.weekly == OFFICE
        assert dt.date(2025, 10, 1) in BUSINESS.holidays
        assert dt.date(2025, 10, 11) in BUSINESS.workdays  # 国庆调休, a Saturday
        assert WorkCalendar.load(CN_MAINLAND, OFFICE) == BUSINESS


class TestFirstResponse:
    def test_an_faq_auto_reply_starts_no_clock(self):
        values, changes = TRACKER.initial_columns("chat", "after_sales", "normal", None, T0, handed_over=False)
        assert changes == []
        assert values["first_response_state"] is None
        assert values["resolution_state"] is None
        assert values["sla_check_at"] is None
        assert values["sla_policy"] == "在线客服"

    def test_a_ticket_straight_to_a_human_queue_starts_at_creation(self):
        ticket = new_ticket("chat")
        first = read(ticket, "first_response")
        assert (first.state, first.started_at, first.due_at, first.warn_at) == (
            ClockState.RUNNING,
            T0,
            T0 + s(30),
            T0 + s(24),
        )
        assert ticket.sla_check_at == T0 + s(24)  # the monitor looks first at the warning
        assert ticket.sla_due_at == T0 + s(30)

    def test_a_rejected_auto_reply_starts_it_at_hand_over(self):
        ticket = new_ticket("chat", handed_over=False)
        rejected_at = T0 + dt.timedelta(minutes=5)
        assert move_status(ticket, "open", rejected_at) == []  # nothing was running to resume
        changes = TRACKER.hand_over(ticket, rejected_at)
        assert moves(changes) == [("first_response", "started"), ("resolution", "started")]
        first = read(ticket, "first_response")
        assert first.started_at == rejected_at
        assert first.due_at == rejected_at + s(30)
        assert read(ticket, "resolution").due_at == rejected_at + s(48 * HOUR)

    def test_a_customer_message_does_not_stop_it(self):
        ticket = new_ticket("chat")
        assert TRACKER.customer_wrote(ticket, T0 + s(10), acknowledgement=False) == []
        assert read(ticket, "first_response").state is ClockState.RUNNING
        assert read(ticket, "next_response").state is None  # no cycle before the first response

    def test_a_person_reply_in_time_is_met(self):
        ticket = new_ticket("phone")
        changes = TRACKER.agent_responded(ticket, T0 + s(10))  # a reply, or call_answered
        assert moves(changes) == [("first_response", "met")]
        assert read(ticket, "first_response").state is ClockState.MET
        assert ticket.first_response_seconds == 10.0
        assert ticket.sla_check_at == read(ticket, "resolution").warn_at  # only resolution is left

    def test_a_late_reply_is_breached_even_if_no_monitor_saw_it(self):
        ticket = new_ticket("phone")
        changes = TRACKER.agent_responded(ticket, T0 + s(15.5))
        assert moves(changes) == [("first_response", "breached")]
        assert changes[0].moment.due_at == T0 + s(15)
        assert ticket.first_response_seconds == 15.5

    def test_a_reopen_does_not_restart_it(self):
        ticket = new_ticket("chat")
        TRACKER.agent_responded(ticket, T0 + s(20))
        move_status(ticket, "pending_customer", T0 + s(20))
        move_status(ticket, "resolved", T0 + s(60))
        assert move_status(ticket, "open", T0 + s(600)) == [("resolution", "resumed")]  # reopened
        assert TRACKER.hand_over(ticket, T0 + s(600)) == []  # the service hands over again: no-op
        first = read(ticket, "first_response")
        assert (first.state, first.started_at, first.due_at) == (ClockState.MET, T0, T0 + s(30))
        assert ticket.first_response_seconds == 20.0

    def test_hand_over_twice_keeps_the_first_start(self):
        ticket = new_ticket("chat")
        assert TRACKER.hand_over(ticket, T0 + s(5)) == []
        assert read(ticket, "first_response").started_at == T0


class TestResolution:
    def test_waiting_for_the_customer_pauses_and_shifts_the_due_time(self):
        ticket = new_ticket("chat")  # normal priority: 48 h, 24x7
        assert read(ticket, "resolution").due_at == T0 + s(48 * HOUR)
        assert move_status(ticket, "pending_customer", T0 + s(HOUR)) == [("resolution", "paused")]
        paused = read(ticket, "resolution")
        assert (paused.state, paused.due_at, paused.used_seconds) == (ClockState.PAUSED, None, HOUR)
        assert move_status(ticket, "open", T0 + s(3 * HOUR)) == [("resolution", "resumed")]
        resumed = read(ticket, "resolution")
        assert resumed.state is ClockState.RUNNING
        assert resumed.due_at == T0 + s(50 * HOUR)  # 48 h + the 2 h it waited for the customer
        assert resumed.warn_at == T0 + s(3 * HOUR) + s(0.8 * 48 * HOUR - HOUR)

    def test_resolved_pauses_too_and_closed_is_met(self):
        ticket = new_ticket("chat")
        assert move_status(ticket, "resolved", T0 + s(HOUR)) == [("resolution", "paused")]
        assert ticket.sla_check_at == T0 + s(24)  # a paused clock is not watched; first response is
        assert move_status(ticket, "closed", T0 + s(100 * HOUR)) == [("resolution", "met")]
        assert read(ticket, "resolution").state is ClockState.MET
        assert read(ticket, "first_response").state is ClockState.CANCELLED
        assert ticket.sla_check_at is None

    def test_several_pauses_add_up(self):
        ticket = new_ticket("chat")
        move_status(ticket, "pending_customer", T0 + s(HOUR))
        move_status(ticket, "open", T0 + s(2 * HOUR))
        move_status(ticket, "resolved", T0 + s(3 * HOUR))
        move_status(ticket, "open", T0 + s(10 * HOUR))
        resumed = read(ticket, "resolution")
        assert resumed.used_seconds == 2 * HOUR
        assert resumed.due_at == T0 + s(10 * HOUR) + s(46 * HOUR)

    def test_resuming_past_the_warning_share_resumes_warned(self):
        ticket = new_ticket("chat")
        move_status(ticket, "pending_customer", T0 + s(40 * HOUR))  # 40 of 48 h used: past 80 %
        move_status(ticket, "open", T0 + s(41 * HOUR))
        resumed = read(ticket, "resolution")
        assert (resumed.state, resumed.warn_at) == (ClockState.WARNED, None)
        assert resumed.due_at == T0 + s(49 * HOUR)


class TestNextResponse:
    def answered(self) -> Ticket:
        ticket = new_ticket("chat")
        TRACKER.agent_responded(ticket, T0 + s(10))
        return ticket

    @pytest.mark.parametrize("text", ["谢谢", "好的", "收到", "好的，谢谢！"])
    def test_an_acknowledgement_starts_no_cycle(self, text):
        assert is_acknowledgement(text)
        ticket = self.answered()
        assert TRACKER.customer_wrote(ticket, T0 + s(60), acknowledgement=is_acknowledgement(text)) == []
        assert read(ticket, "next_response").state is None

    @pytest.mark.parametrize("text", ["还是没到账", "谢谢，但是钱还没到", "好的 那运费谁出？"])
    def test_a_real_message_starts_one(self, text):
        assert not is_acknowledgement(text)
        ticket = self.answered()
        changes = TRACKER.customer_wrote(ticket, T0 + s(60), acknowledgement=is_acknowledgement(text))
        assert moves(changes) == [("next_response", "started")]
        assert read(ticket, "next_response").due_at == T0 + s(60 + 120)  # chat: 2 minutes

    def test_a_running_cycle_is_not_restarted_and_the_reply_stops_it(self):
        ticket = self.answered()
        TRACKER.customer_wrote(ticket, T0 + s(60), acknowledgement=False)
        assert TRACKER.customer_wrote(ticket, T0 + s(90), acknowledgement=False) == []
        assert read(ticket, "next_response").due_at == T0 + s(180)  # the oldest message counts
        assert moves(TRACKER.agent_responded(ticket, T0 + s(150))) == [("next_response", "met")]
        assert ticket.first_response_seconds == 10.0  # the next reply does not rewrite the first

    def test_the_next_message_after_a_reply_starts_a_new_cycle(self):
        ticket = self.answered()
        TRACKER.customer_wrote(ticket, T0 + s(60), acknowledgement=False)
        TRACKER.agent_responded(ticket, T0 + s(300))  # late: breached
        assert read(ticket, "next_response").state is ClockState.BREACHED
        assert moves(TRACKER.customer_wrote(ticket, T0 + s(400), acknowledgement=False)) == [
            ("next_response", "started")
        ]
        assert read(ticket, "next_response").due_at == T0 + s(520)


class TestBusinessHours:
    """Email: 2 working hours on Mon-Fri 09:00-12:00, 13:30-18:00 (Asia/Shanghai), mainland holidays."""

    def test_across_the_national_day_holiday(self):
        ticket = new_ticket("email", sh(2025, 9, 30, 17, 0))  # Tue, 1 h before closing; 1-8 Oct off
        first = read(ticket, "first_response")
        assert first.due_at == sh(2025, 10, 9, 10, 0)  # the remaining hour on Thu 9 Oct
        assert first.warn_at == sh(2025, 10, 9, 9, 36)  # 96 minutes = 80 % of 2 h
        TRACKER.agent_responded(ticket, sh(2025, 10, 9, 9, 30))
        assert ticket.first_response_seconds == 1.5 * HOUR  # 8 days later, 1.5 working hours
        assert read(ticket, "first_response").state is ClockState.MET

    def test_a_make_up_saturday_counts(self):
        ticket = new_ticket("email", sh(2025, 10, 10, 17, 0))  # Fri; Sat 11 Oct is 调休上班
        assert read(ticket, "first_response").due_at == sh(2025, 10, 11, 10, 0)
        plain = WorkCalendar(OFFICE, tz=SH)  # the same hours without the notice: due on Monday
        assert plain.add(sh(2025, 10, 10, 17, 0), 2 * HOUR) == sh(2025, 10, 13, 10, 0)

    def test_a_make_up_sunday_opens_at_nine(self):
        ticket = new_ticket("email", sh(2025, 9, 27, 20, 0))  # Sat evening; Sun 28 Sep is 调休上班
        assert read(ticket, "first_response").due_at == sh(2025, 9, 28, 11, 0)

    def test_the_lunch_break_does_not_count(self):
        ticket = new_ticket("email", sh(2026, 11, 24, 11, 0))
        assert read(ticket, "first_response").due_at == sh(2026, 11, 24, 14, 30)

    def test_a_pause_over_a_holiday_resumes_with_the_remaining_working_time(self):
        ticket = new_ticket("email", sh(2025, 9, 30, 9, 0))  # resolution: 48 working hours
        move_status(ticket, "pending_customer", sh(2025, 9, 30, 10, 0))
        move_status(ticket, "open", sh(2025, 10, 9, 9, 0))
        resumed = read(ticket, "resolution")
        assert resumed.used_seconds == HOUR
        assert resumed.due_at == BUSINESS.add(sh(2025, 10, 9, 9, 0), 47 * HOUR)
        assert BUSINESS.elapsed(sh(2025, 10, 9, 9, 0), resumed.due_at) == 47 * HOUR


class TestWarningAndCheck:
    @pytest.mark.parametrize(("channel", "warn", "due"), [("phone", 12, 15), ("chat", 24, 30)])
    def test_warning_at_80_percent_then_breach_each_once(self, channel, warn, due):
        clock = read(new_ticket(channel), "first_response")
        assert clock.warn_at == T0 + s(warn)
        assert clocks.check(clock, T0 + s(warn) - dt.timedelta(microseconds=1)) == (clock, None)
        warned, moment = clocks.check(clock, T0 + s(warn))
        assert (warned.state, moment.kind if moment else None) == (ClockState.WARNED, "warning")
        assert clocks.next_check(warned) == T0 + s(due)
        assert clocks.check(warned, T0 + s(due) - dt.timedelta(microseconds=1))[1] is None
        breached, moment = clocks.check(warned, T0 + s(due))
        assert (breached.state, moment.kind if moment else None) == (ClockState.BREACHED, "breached")
        assert moment is not None
        assert moment.due_at == T0 + s(due)
        assert clocks.check(breached, T0 + s(10 * due)) == (breached, None)
        assert clocks.next_check(breached) is None

    def test_a_clock_found_late_is_breached_without_a_stale_warning(self):
        clock = read(new_ticket("phone"), "first_response")
        checked, moment = clocks.check(clock, T0 + s(3600))
        assert checked.state is ClockState.BREACHED
        assert moment is not None
        assert (moment.kind, moment.at, moment.due_at) == ("breached", T0 + s(3600), T0 + s(15))

    def test_business_warning_at_80_percent_of_working_time(self):
        clock, _ = clocks.start(2 * HOUR, BUSINESS, sh(2026, 11, 24, 11, 0), POLICIES.warning_share)
        assert clock.warn_at == sh(2026, 11, 24, 14, 6)  # 60 min before lunch + 36 min after
        assert BUSINESS.elapsed(clock.started_at, clock.warn_at) == pytest.approx(0.8 * 2 * HOUR)

    def test_tracker_check_reports_each_metric_once(self):
        ticket = new_ticket("phone")
        assert moves(TRACKER.check(ticket, T0 + s(12))) == [("first_response", "warning")]
        assert TRACKER.check(ticket, T0 + s(13)) == []
        assert moves(TRACKER.check(ticket, T0 + s(15))) == [("first_response", "breached")]
        assert TRACKER.check(ticket, T0 + s(16)) == []
        assert ticket.sla_check_at == read(ticket, "resolution").warn_at

    def test_columns_round_trip(self):
        clock, _ = clocks.start(30, ALWAYS, T0, 0.8)
        ticket = new_ticket("chat")
        for name, value in columns("next_response", clock).items():
            setattr(ticket, name, value)
        assert read(ticket, "next_response") == clock


# --------------------------------------------------------------------------- properties

MOMENTS = st.datetimes(
    min_value=dt.datetime(2024, 12, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC)
)
TARGETS = st.floats(min_value=0.001, max_value=30 * 24 * HOUR, allow_nan=False, allow_infinity=False)
OFFSETS = st.floats(min_value=0, max_value=10 * 24 * HOUR, allow_nan=False, allow_infinity=False)
CALENDARS = st.sampled_from([ALWAYS, BUSINESS])


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(start=MOMENTS, target=TARGETS, calendar=CALENDARS)
    def test_due_and_warning_are_never_before_the_start(self, start, target, calendar):
        clock, moment = clocks.start(target, calendar, start, POLICIES.warning_share)
        assert clock.due_at is not None
        assert clock.warn_at is not None
        assert start <= clock.warn_at <= clock.due_at
        assert moment.due_at == clock.due_at

    @settings(max_examples=300, deadline=None)
    @given(start=MOMENTS, target=TARGETS, calendar=CALENDARS, before=OFFSETS, paused=OFFSETS)
    def test_pausing_never_shortens(self, start, target, calendar, before, paused):
        clock, _ = clocks.start(target, calendar, start, POLICIES.warning_share)
        pause_at = start + s(before)
        resume_at = pause_at + s(paused)
        held, _ = clocks.pause(clock, calendar, pause_at)
        resumed, _ = clocks.resume(held, calendar, resume_at, POLICIES.warning_share)
        assert resumed.due_at is not None
        assert clock.due_at is not None
        assert resumed.due_at >= clock.due_at
        assert resumed.due_at >= resume_at
        # Working time is conserved: what was used before the pause plus what is left is the target.
        left = calendar.elapsed(resume_at, resumed.due_at)
        if held.used_seconds < target:
            assert held.used_seconds + left == pytest.approx(target, abs=1e-5)

    @settings(max_examples=200, deadline=None)
    @given(start=MOMENTS, target=TARGETS, calendar=CALENDARS, at=OFFSETS)
    def test_stop_is_met_exactly_when_in_time(self, start, target, calendar, at):
        clock, _ = clocks.start(target, calendar, start, POLICIES.warning_share)
        assert clock.due_at is not None
        stopped, moment = clocks.stop(clock, start + s(at))
        assert moment is not None
        assert (stopped.state is ClockState.MET) == (start + s(at) <= clock.due_at)

    @settings(max_examples=200, deadline=None)
    @given(start=MOMENTS, target=TARGETS, at=OFFSETS)
    def test_check_never_skips_a_breach(self, start, target, at):
        clock, _ = clocks.start(target, BUSINESS, start, POLICIES.warning_share)
        checked = clock
        for moment_at in sorted({start + s(at / 2), start + s(at)}):
            checked, _ = clocks.check(checked, moment_at)
        assert clock.due_at is not None
        assert (checked.state is ClockState.BREACHED) == (start + s(at) >= clock.due_at)


def test_a_paused_clock_stopped_is_met_not_breached():
    clock, _ = clocks.start(30, ALWAYS, T0, 0.8)
    held, _ = clocks.pause(clock, ALWAYS, T0 + s(10))
    stopped, moment = clocks.stop(held, T0 + s(3600))
    assert stopped.state is ClockState.MET
    assert moment is not None
    assert moment.kind == "met"
    assert clocks.cancel(Clock()) == Clock()
