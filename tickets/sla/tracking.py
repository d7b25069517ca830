"""Applying SLA clocks to tickets: which clock starts, pauses, resumes or stops when.

Semantics (also in the README):
- first response: starts when the ticket reaches a human queue (an FAQ auto-reply is not a
  response; a rejected auto-reply starts it at hand-over); only a person's public reply, or
  ``call_answered`` for phone, stops it; a reopen does not restart it.
- next response: starts at a customer message that needs an answer (not an acknowledgement
  such as 谢谢 / 好的) once the first response has been given and no cycle is running; the next
  agent reply stops it.
- resolution: starts at hand-over, pauses while the ticket waits for the customer
  (``pending_customer``, ``resolved``), resumes when it is back with the team, stops at ``closed``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tickets.lifecycle import SYSTEM, event_row
from tickets.models import Ticket
from tickets.sla import clock as clocks
from tickets.sla.clock import Clock, ClockState, Moment
from tickets.sla.policy import PolicySet, SlaPolicy

METRICS = ("first_response", "next_response", "resolution")
_FIELDS = ("state", "target_seconds", "started_at", "due_at", "warn_at", "used_seconds")
WAITING_FOR_CUSTOMER = ("pending_customer", "resolved")


def read(ticket: Ticket, metric: str) -> Clock:
    state = getattr(ticket, f"{metric}_state")
    return Clock(
        state=ClockState(state) if state else None,
        target_seconds=getattr(ticket, f"{metric}_target_seconds"),
        started_at=getattr(ticket, f"{metric}_started_at"),
        due_at=getattr(ticket, f"{metric}_due_at"),
        warn_at=getattr(ticket, f"{metric}_warn_at"),
        used_seconds=getattr(ticket, f"{metric}_used_seconds") or 0.0,
    )


def columns(metric: str, clock: Clock) -> dict[str, Any]:
    values = {f"{metric}_{name}": getattr(clock, name) for name in _FIELDS}
    values[f"{metric}_state"] = clock.state.value if clock.state else None
    return values


def summary_columns(all_clocks: dict[str, Clock]) -> dict[str, Any]:
    """``sla_due_at`` orders the agents' queues; ``sla_check_at`` is what the monitor polls."""
    due = [c.due_at for c in all_clocks.values() if c.active and c.due_at is not None]
    checks = [t for t in (clocks.next_check(c) for c in all_clocks.values()) if t is not None]
    return {"sla_due_at": min(due, default=None), "sla_check_at": min(checks, default=None)}


@dataclass(frozen=True)
class SlaChange:
    metric: str
    moment: Moment


class SlaTracker:
    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self._by_name = {p.name: p for p in policies.policies}

    def policy_for(self, ticket: Ticket, tier: str | None = None) -> SlaPolicy | None:
        named = self._by_name.get(ticket.sla_policy or "")
        return named or self.policies.for_ticket(ticket.channel, ticket.queue, ticket.priority, tier)

    # -- column values for a new ticket (the inquiry hot path inserts rows directly) --
    def initial_columns(
        self, channel: str, queue: str, priority: str, tier: str | None, now: dt.datetime, handed_over: bool
    ) -> tuple[dict[str, Any], list[SlaChange]]:
        policy = self.policies.for_ticket(channel, queue, priority, tier)
        state = {m: Clock() for m in METRICS}
        changes: list[SlaChange] = []
        if policy is not None and handed_over:
            changes = self._start_first_and_resolution(policy, priority, state, now)
        values: dict[str, Any] = {"sla_policy": policy.name if policy else None}
        for metric, value in state.items():
            values.update(columns(metric, value))
        values.update(summary_columns(state))
        return values, changes

    def _start_first_and_resolution(
        self, policy: SlaPolicy, priority: str, state: dict[str, Clock], now: dt.datetime
    ) -> list[SlaChange]:
        changes = []
        share = self.policies.warning_share
        if state["first_response"].state is None and policy.first_response_seconds:
            state["first_response"], moment = clocks.start(policy.first_response_seconds, policy.calendar, now, share)
            changes.append(SlaChange("first_response", moment))
        target = policy.resolution_seconds.get(priority)
        if state["resolution"].state is None and target:
            state["resolution"], moment = clocks.start(target, policy.calendar, now, share)
            changes.append(SlaChange("resolution", moment))
        return changes

    # -- changes to an existing ticket (ORM object, locked by the caller) --
    def _apply(self, ticket: Ticket, state: dict[str, Clock]) -> None:
        for metric, value in state.items():
            for column, column_value in columns(metric, value).items():
                setattr(ticket, column, column_value)
        for column, column_value in summary_columns(state).items():
            setattr(ticket, column, column_value)

    def _state(self, ticket: Ticket) -> dict[str, Clock]:
        return {m: read(ticket, m) for m in METRICS}

    def hand_over(self, ticket: Ticket, now: dt.datetime, tier: str | None = None) -> list[SlaChange]:
        policy = self.policy_for(ticket, tier)
        if policy is None:
            return []
        ticket.sla_policy = policy.name
        state = self._state(ticket)
        changes = self._start_first_and_resolution(policy, ticket.priority, state, now)
        self._apply(ticket, state)
        return changes

    def agent_responded(self, ticket: Ticket, now: dt.datetime) -> list[SlaChange]:
        state = self._state(ticket)
        changes = []
        for metric in ("first_response", "next_response"):
            state[metric], moment = clocks.stop(state[metric], now)
            if moment:
                changes.append(SlaChange(metric, moment))
        # The first person's response is timed even when it came after the breach (reports'
        # median and p90 must include the late ones).
        started = state["first_response"].started_at
        if ticket.first_response_at is None and ticket.first_response_seconds is None and started is not None:
            policy = self.policy_for(ticket)
            if policy is not None:
                ticket.first_response_seconds = policy.calendar.elapsed(started, now)
        self._apply(ticket, state)
        return changes

    def customer_wrote(self, ticket: Ticket, now: dt.datetime, acknowledgement: bool) -> list[SlaChange]:
        state = self._state(ticket)
        first_done = state["first_response"].state in (ClockState.MET, ClockState.BREACHED)
        if acknowledgement or not first_done or state["next_response"].active:
            return []
        policy = self.policy_for(ticket)
        if policy is None or not policy.next_response_seconds:
            return []
        state["next_response"], moment = clocks.start(
            policy.next_response_seconds, policy.calendar, now, self.policies.warning_share
        )
        self._apply(ticket, state)
        return [SlaChange("next_response", moment)]

    def status_changed(self, ticket: Ticket, before: str, after: str, now: dt.datetime) -> list[SlaChange]:
        policy = self.policy_for(ticket)
        if policy is None or before == after:
            return []
        state = self._state(ticket)
        changes = []
        resolution = state["resolution"]
        moment: Moment | None = None
        if after == "closed":
            resolution, moment = clocks.stop(resolution, now)
            state["first_response"] = clocks.cancel(state["first_response"])
            state["next_response"] = clocks.cancel(state["next_response"])
        elif after in WAITING_FOR_CUSTOMER:
            resolution, moment = clocks.pause(resolution, policy.calendar, now)
        elif after == "open":
            resolution, moment = clocks.resume(resolution, policy.calendar, now, self.policies.warning_share)
        state["resolution"] = resolution
        if moment:
            changes.append(SlaChange("resolution", moment))
        self._apply(ticket, state)
        return changes

    def check(self, ticket: Ticket, now: dt.datetime) -> list[SlaChange]:
        """The monitor's look at a ticket whose ``sla_check_at`` has come."""
        state = self._state(ticket)
        changes = []
        for metric in METRICS:
            state[metric], moment = clocks.check(state[metric], now)
            if moment:
                changes.append(SlaChange(metric, moment))
        self._apply(ticket, state)
        return changes

    @staticmethod
    def event_rows(ticket_id: int, policy: str | None, changes: list[SlaChange]) -> list[dict[str, Any]]:
        return [
            event_row(
                ticket_id,
                f"sla.{c.moment.kind}",
                SYSTEM,
                c.moment.at,
                details={
                    "metric": c.metric,
                    "due_at": c.moment.due_at.isoformat() if c.moment.due_at else None,
                    "policy": policy,
                },
            )
            for c in changes
        ]
