"""Report speed on a month of tickets: seeds N tickets (default 1,000,000) into SQLite, then times
GET-equivalent report queries (SLA by channel, queue, agent and day; KPI with complaint keywords).

Rows are bulk-inserted with plausible distributions (channels, queues, first-response outcomes,
ratings, complaints), not through the API: the point is the query time over a large table.

Run: ``.venv/bin/python benchmarks/bench_reports.py [--tickets 1000000] [--db /tmp/reports.db]``
Target: each report <= 2 s for a month of 1,000,000 tickets on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from tickets import reports
from tickets.db import make_engine, read_only, upgrade
from tickets.models import customers_table, tickets_table, users_table
from triage.keywords import top_keywords

CHANNELS = (("chat", 0.45), ("phone", 0.2), ("email", 0.2), ("web", 0.15))
QUEUES = ("after_sales", "billing", "tech_support", "presales", "complaints", "general")
COMPLAINTS = (
    "快递太慢了一周还没到",
    "客服态度太差一直不回",
    "退款拖了半个月",
    "发错货了还不给换",
    "质量太差用两天就坏",
)
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 30


def seed(url: str, n: int, rng: random.Random) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(customers_table), [{"tier": "standard", "created_at": START}])
        conn.execute(
            insert(users_table),
            [
                {"name": f"坐席{i}", "role": "agent", "token_hash": f"{i:064d}", "active": True, "created_at": START}
                for i in range(1, 41)
            ],
        )
    channels, weights = zip(*CHANNELS, strict=True)
    batch: list[dict[str, object]] = []
    for i in range(n):
        created = START + dt.timedelta(seconds=rng.uniform(0, DAYS * 86400))
        channel = rng.choices(channels, weights)[0]
        complaint = rng.random() < 0.06
        auto = channel != "phone" and not complaint and rng.random() < 0.3
        target = {"phone": 15, "chat": 30, "email": 7200, "web": 14400}[channel]
        taken = rng.expovariate(1 / (target * 0.6))
        state = None if auto else ("met" if taken <= target else "breached")
        if not auto and rng.random() < 0.02:
            state, taken = "running", None
        closed = rng.random() < 0.8
        batch.append(
            {
                "customer_id": 1,
                "customer_token_hash": f"{i:064x}",
                "channel": channel,
                "status": "closed" if closed else "open",
                "subject": rng.choice(COMPLAINTS) if complaint else "订单咨询",
                "intent": "complaint" if complaint else "order_status",
                "queue": "complaints" if complaint else rng.choice(QUEUES),
                "priority": "high" if complaint else "normal",
                "confidence": 0.9,
                "model_version": "bench",
                "explanation": [],
                "assignee_id": None if auto else rng.randint(1, 40),
                "escalation_level": 0,
                "reopen_count": 1 if rng.random() < 0.05 else 0,
                "auto_replied": auto,
                "rating": rng.choice((3, 4, 5, 5)) if closed and rng.random() < 0.4 else None,
                "close_reason": ("confirmed" if rng.random() < 0.7 else "unconfirmed") if closed else None,
                "created_at": created,
                "updated_at": created,
                "handed_over_at": None if auto else created,
                "first_response_at": None if taken is None or auto else created + dt.timedelta(seconds=taken),
                "first_response_state": state,
                "first_response_seconds": None if taken is None or auto else taken,
                "first_response_used_seconds": 0.0,
                "next_response_used_seconds": 0.0,
                "resolution_used_seconds": 0.0,
                "resolved_at": created + dt.timedelta(hours=2) if closed else None,
            }
        )
        if len(batch) == 20_000:
            with engine.begin() as conn:
                conn.execute(insert(tickets_table), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(tickets_table), batch)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def timed(label: str, runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    print(f"{label:<34} median {median:6.3f} s   best {best:6.3f} s")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    default_db = Path(tempfile.gettempdir()) / "triage_reports_bench.db"
    parser.add_argument("--db", type=Path, default=default_db, help="reused when it holds --tickets rows")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    engine = make_engine(url)
    existing = 0
    if args.db.exists():
        with read_only(engine) as conn:
            try:
                existing = conn.execute(select(func.count()).select_from(tickets_table)).scalar_one()
            except Exception:
                existing = 0
    if existing != args.tickets:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        upgrade(url)
        start = time.perf_counter()
        seed(url, args.tickets, random.Random(7))
        print(f"seeded {args.tickets:,} tickets in {time.perf_counter() - start:.1f} s")
    period = reports.Period(START, START + dt.timedelta(days=DAYS), ZoneInfo("Asia/Shanghai"))
    print(f"\n{args.tickets:,} tickets over {DAYS} days, SQLite, {args.runs} runs each")
    for group_by in ("channel", "queue", "agent", "day"):

        def run(g=group_by):  # type: ignore[no-untyped-def]
            with read_only(engine) as conn:
                return reports.sla_report(conn, period, g)

        timed(f"GET /reports/sla?group_by={group_by}", args.runs, run)

    def kpi():  # type: ignore[no-untyped-def]
        with read_only(engine) as conn:
            return reports.kpi_report(conn, period, top_keywords(reports.complaint_texts(conn, period), 10))

    timed("GET /reports/kpi (with keywords)", args.runs, kpi)
    result = kpi()
    print(
        f"\nkpi: compliance {result['first_response_compliance']}, auto-reply {result['auto_reply_rate']}, "
        f"top complaint keywords {[k['keyword'] for k in result['top_complaint_keywords'][:3]]}"
    )


if __name__ == "__main__":
    main()
