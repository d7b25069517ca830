"""The SLA monitor: finds clocks whose warning or due time has come and records the moment once.

It polls ``tickets.sla_check_at <= now`` (an indexed column holding each ticket's next warning or
due time), so a check costs the same at 100 open tickets as at 100,000 and never scans the table.
Each ticket is re-read under a row lock and its clock moves only from running to warned to
breached, so a moment is recorded once even if two monitors looked at the same ticket.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import col, select

from tickets import lifecycle
from tickets.db import session_scope
from tickets.models import Ticket
from tickets.sla.tracking import SlaTracker

BATCH = 500


def check_due(engine: Engine, sla: SlaTracker, now: dt.datetime, batch: int = BATCH) -> int:
    """Record every SLA warning and breach due by ``now``; returns how many moments were recorded."""
    recorded = 0
    with session_scope(engine) as session:
        due = session.exec(
            select(Ticket)
            .where(col(Ticket.sla_check_at) <= now)
            .order_by(col(Ticket.sla_check_at))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for ticket in due:
            changes = sla.check(ticket, now)
            lifecycle.record_sla(session, ticket, sla, changes)
            session.add(ticket)
            recorded += len(changes)
    return recorded
