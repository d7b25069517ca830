"""Demo history: realistic tickets of the last weeks, made through the real service functions.

Every ticket is created, triaged, answered, resolved and confirmed (or not) by the same code the
API runs, with the clock set to the moment each step happened, so the events, SLA clocks and
reports of a seeded database are exactly what a real team would produce.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from tickets import service
from tickets.auth import Principal, create_user
from tickets.db import session_scope
from tickets.models import Ticket
from tickets.sla.tracking import SlaTracker
from triage import TriageModel

DATA = Path(__file__).resolve().parent.parent / "training_data" / "inquiries"
AGENTS = ("王晓雯", "李浩", "陈佳怡", "刘洋", "赵敏", "孙志强")
CHANNEL_WEIGHTS = {"chat": 45, "phone": 20, "email": 20, "web": 15}
# Seconds from hand-over to the first reply: (typical, slow) per channel; about 8% are slow.
RESPONSE_SECONDS = {"phone": (4, 40), "chat": (12, 90), "email": (1800, 4 * 3600), "web": (3600, 6 * 3600)}
REPLIES = (
    "您好，已收到您的问题，正在为您核实，请稍等。",
    "您好，这边已为您查询到订单信息，仓库今天会安排发出，请留意物流短信。",
    "非常抱歉给您带来不便，已为您登记加急处理，24 小时内给您答复。",
    "您好，退款已原路退回，一般 1-3 个工作日到账，请注意查收。",
    "您好，麻烦提供一下订单号和问题照片，我们马上帮您处理。",
)
FOLLOW_UPS = ("好的，那我再等等", "还是没有收到啊", "照片已经发了，麻烦尽快", "请问大概什么时候能处理好？")
COMMENTS = ("处理很快，谢谢", "客服态度很好", "", "还行吧", "等太久了")


def _texts() -> list[str]:
    texts = []
    for path in sorted(DATA.glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


def seed(
    engine: Engine,
    model: TriageModel,
    sla: SlaTracker,
    tickets: int,
    now: dt.datetime,
    *,
    days: int = 14,
    rng: random.Random | None = None,
    progress: Callable[[int], None] = lambda _done: None,
) -> dict[str, int]:
    rng = rng or random.Random(20261124)
    texts = _texts()
    with session_scope(engine) as session:
        agents = [create_user(session, name, "agent", now)[0] for name in AGENTS]
        integration, _ = create_user(session, "呼叫中心", "integration", now)
        create_user(session, "客服主管", "supervisor", now)
    agent_callers = [Principal("agent", user_id=a.id) for a in agents]
    call_centre = Principal("integration", user_id=integration.id)
    counts = {"tickets": 0, "auto_replied": 0, "answered": 0, "closed": 0, "open": 0}
    channels, weights = zip(*CHANNEL_WEIGHTS.items(), strict=True)
    for index in range(tickets):
        created = now - dt.timedelta(seconds=rng.uniform(0, days * 86400))
        channel = rng.choices(channels, weights)[0]
        caller = call_centre if channel in ("phone", "email") else Principal("anonymous")
        _one_ticket(engine, model, sla, rng, texts, agent_callers, caller, channel, created, now, counts)
        progress(index + 1)
    return counts


def _one_ticket(
    engine: Engine,
    model: TriageModel,
    sla: SlaTracker,
    rng: random.Random,
    texts: list[str],
    agents: list[Principal],
    caller: Principal,
    channel: str,
    created: dt.datetime,
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    inquiry = service.NewInquiry(channel, rng.choice(texts), service.CustomerInfo(), trusted_identity=False)
    with session_scope(engine) as session:
        made = service.create_inquiry(session, model, caller, inquiry, created, sla)
    ticket_id = made.ticket_id
    customer = Principal("customer", ticket_id=ticket_id, customer_id=None)
    counts["tickets"] += 1
    t = created
    if made.status == "auto_replied":
        counts["auto_replied"] += 1
        t += dt.timedelta(seconds=rng.uniform(20, 300))
        if t > now:
            return
        accepted = rng.random() < 0.75
        with session_scope(engine) as session:
            customer = Principal("customer", ticket_id=ticket_id, customer_id=_customer_of(session, ticket_id))
            rating = rng.choice((4, 5, 5)) if accepted else None
            service.confirm(session, customer, ticket_id, accepted, rating, None, t, sla)
        if accepted:
            counts["closed"] += 1
            return
    typical, slow = RESPONSE_SECONDS[channel]
    t += dt.timedelta(seconds=rng.uniform(slow, slow * 3) if rng.random() < 0.08 else rng.uniform(1, typical * 1.6))
    if t > now:
        counts["open"] += 1
        return
    agent = rng.choice(agents)
    with session_scope(engine) as session:
        if channel == "phone":
            # The call centre reports the pick-up; the agent then notes what was agreed on the call.
            service.post_message(session, caller, ticket_id, "坐席已接听", "call_answered", t, sla)
            service.claim(session, agent, ticket_id, t)
        else:
            service.post_message(session, agent, ticket_id, rng.choice(REPLIES), "text", t, sla)
        customer = Principal("customer", ticket_id=ticket_id, customer_id=_customer_of(session, ticket_id))
    counts["answered"] += 1
    if rng.random() < 0.35:
        t += dt.timedelta(minutes=rng.uniform(2, 120))
        if t > now:
            return
        with session_scope(engine) as session:
            service.post_message(session, customer, ticket_id, rng.choice(FOLLOW_UPS), "text", t, sla)
        t += dt.timedelta(minutes=rng.uniform(1, 60))
        if t > now:
            return
        with session_scope(engine) as session:
            service.post_message(session, agent, ticket_id, rng.choice(REPLIES), "text", t, sla)
    t += dt.timedelta(minutes=rng.uniform(5, 600))
    if t > now or rng.random() < 0.1:
        return
    with session_scope(engine) as session:
        service.resolve(session, agent, ticket_id, None, t, sla)
    t += dt.timedelta(minutes=rng.uniform(3, 900))
    if t > now:
        return
    outcome = rng.random()
    with session_scope(engine) as session:
        if outcome < 0.7:
            complaint = made.decision.intent == "complaint"
            rating = rng.choice((2, 3, 4)) if complaint else rng.choice((3, 4, 5, 5, 5))
            service.confirm(session, customer, ticket_id, True, rating, rng.choice(COMMENTS) or None, t, sla)
            counts["closed"] += 1
        elif outcome < 0.8:
            service.confirm(session, customer, ticket_id, False, None, "问题还是没有解决", t, sla)


def _customer_of(session: Session, ticket_id: int) -> int | None:
    ticket = session.get(Ticket, ticket_id)
    return ticket.customer_id if ticket else None
