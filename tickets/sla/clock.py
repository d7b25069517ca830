"""SLA clocks as pure values: start, pause, resume, stop and check, given ``now`` and a calendar.

A clock measures one metric of one ticket (first response, next response or resolution). Its
target is in working seconds of the policy's calendar. ``used_seconds`` is the working time spent
in earlier runs (before a pause); the current run began at ``started_at``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

from tickets.sla.calendar import WorkCalendar


class ClockState(StrEnum):
    RUNNING = "running"
    WARNED = "warned"  # still running, past the warning share
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"  # stopped without a verdict (e.g. the ticket closed with nothing owed)


ACTIVE = (ClockState.RUNNING, ClockState.WARNED)


@dataclass(frozen=True)
class Clock:
    state: ClockState | None = None
    target_seconds: float | None = None
    started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    warn_at: dt.datetime | None = None
    used_seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class Moment:
    """Something that happened to a clock, to be written to the audit trail as ``sla.<kind>``."""

    kind: str  # started | paused | resumed | warning | met | breached
    at: dt.datetime
    due_at: dt.datetime | None


def start(target: float, calendar: WorkCalendar, now: dt.datetime, warning_share: float) -> tuple[Clock, Moment]:
    due = calendar.add(now, target)
    clock = Clock(
        state=ClockState.RUNNING,
        target_seconds=target,
        started_at=now,
        due_at=due,
        warn_at=calendar.add(now, target * warning_share),
        used_seconds=0.0,
    )
    return clock, Moment("started", now, due)


def pause(clock: Clock, calendar: WorkCalendar, now: dt.datetime) -> tuple[Clock, Moment | None]:
    if not clock.active or clock.started_at is None:
        return clock, None
    used = clock.used_seconds + calendar.elapsed(clock.started_at, now)
    return replace(clock, state=ClockState.PAUSED, due_at=None, warn_at=None, used_seconds=used), Moment(
        "paused", now, None
    )


def resume(clock: Clock, calendar: WorkCalendar, now: dt.datetime, warning_share: float) -> tuple[Clock, Moment | None]:
    if clock.state is not ClockState.PAUSED or clock.target_seconds is None:
        return clock, None
    remaining = max(0.0, clock.target_seconds - clock.used_seconds)
    due = calendar.add(now, remaining)
    warn_left = clock.target_seconds * warning_share - clock.used_seconds
    warned = warn_left <= 0
    resumed = replace(
        clock,
        state=ClockState.WARNED if warned else ClockState.RUNNING,
        started_at=now,
        due_at=due,
        warn_at=None if warned else calendar.add(now, warn_left),
    )
    return resumed, Moment("resumed", now, due)


def stop(clock: Clock, now: dt.datetime) -> tuple[Clock, Moment | None]:
    """The awaited thing happened: met if in time, breached if late (even before the monitor saw it)."""
    if clock.state is ClockState.PAUSED:
        return replace(clock, state=ClockState.MET), Moment("met", now, None)
    if not clock.active:
        return clock, None
    late = clock.due_at is not None and now > clock.due_at
    if late:
        return replace(clock, state=ClockState.BREACHED), Moment("breached", now, clock.due_at)
    return replace(clock, state=ClockState.MET), Moment("met", now, clock.due_at)


def cancel(clock: Clock) -> Clock:
    return replace(clock, state=ClockState.CANCELLED) if clock.active or clock.state is ClockState.PAUSED else clock


def check(clock: Clock, now: dt.datetime) -> tuple[Clock, Moment | None]:
    """What the monitor sees at ``now``: a breach at the due time, a warning before it.

    A clock already past its due time is breached without a separate (stale) warning.
    """
    if not clock.active:
        return clock, None
    if clock.due_at is not None and now >= clock.due_at:
        return replace(clock, state=ClockState.BREACHED), Moment("breached", now, clock.due_at)
    if clock.state is ClockState.RUNNING and clock.warn_at is not None and now >= clock.warn_at:
        return replace(clock, state=ClockState.WARNED), Moment("warning", now, clock.due_at)
    return clock, None


def next_check(clock: Clock) -> dt.datetime | None:
    """When the monitor must look at this clock next (its warning, then its due time)."""
    if clock.state is ClockState.RUNNING and clock.warn_at is not None:
        return clock.warn_at
    return clock.due_at if clock.active else None
