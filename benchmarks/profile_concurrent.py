"""CPU time per request with many requests in flight, without HTTP client or server overhead.

Calls the ASGI application directly from ``--concurrency`` tasks on one event loop (so inquiries
arriving together can share a transaction, as under load) and reports process CPU time per
request (``time.process_time``: all threads, still meaningful while other processes load the
machine) for GET /healthz and POST /api/v1/inquiries, the inquiry writer thread's share, and the
mean batch size. Uses a fresh SQLite database in a temporary folder.

Run: ``.venv/bin/python benchmarks/profile_concurrent.py [--concurrency 32] [--requests 4000]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tickets.api.app import create_app
from tickets.auth import create_user
from tickets.config import Settings
from tickets.db import make_engine, session_scope, upgrade

ROOT = Path(__file__).resolve().parent.parent


def texts() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "training_data/heldout/heldout.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows]


class Client:
    """Just enough ASGI to send one request and read its status."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def call(self, method: str, path: str, body: bytes = b"") -> int:
        headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
        headers += [(b"content-length", str(len(body)).encode()), (b"authorization", f"Bearer {self.token}".encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("bench", 80),
            "state": {},
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # never disconnects
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


def writer_cpu() -> float:
    for thread in threading.enumerate():
        if thread.name == "inquiry-writer" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


async def measure(app: Any, client: Client, bodies: list[bytes], concurrency: int, requests: int) -> None:
    per_task = max(1, requests // concurrency)
    total = per_task * concurrency

    async def worker(k: int, count: int, path: str) -> None:
        for i in range(count):
            if path == "/healthz":
                status = await client.call("GET", path)
            else:
                status = await client.call("POST", path, bodies[(k * count + i) % len(bodies)])
            assert status in (200, 201), status

    await asyncio.gather(*(worker(k, 20, "/api/v1/inquiries") for k in range(concurrency)))  # warm-up
    start = time.process_time()
    await asyncio.gather(*(worker(k, per_task, "/healthz") for k in range(concurrency)))
    healthz = (time.process_time() - start) / total * 1000
    counters = getattr(app.state.metrics, "counters", {})
    batches, stored = counters.get("inquiry_batches_total", 0), counters.get("inquiries_stored_total", 0)
    start, writer_start = time.process_time(), writer_cpu()
    await asyncio.gather(*(worker(k, per_task, "/api/v1/inquiries") for k in range(concurrency)))
    inquiry = (time.process_time() - start) / total * 1000
    writer = (writer_cpu() - writer_start) / total * 1000
    batches, stored = (
        counters.get("inquiry_batches_total", 0) - batches,
        counters.get("inquiries_stored_total", 0) - stored,
    )
    mean_batch = f"{stored / batches:.1f}" if batches else "n/a"
    print(
        f"concurrency {concurrency}: CPU ms/request healthz {healthz:.3f}  inquiry {inquiry:.3f} "
        f"(writer thread {writer:.3f}); mean batch {mean_batch}"
    )


async def main(concurrency: int, requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/profile.db"
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            _, token = create_user(session, "profile", "integration", dt.datetime.now(dt.UTC))
        engine.dispose()
        app = create_app(Settings(database_url=url), run_jobs=False)
        bodies = [json.dumps({"channel": "chat", "text": t}, ensure_ascii=False).encode() for t in texts()]
        async with app.router.lifespan_context(app):
            for _ in range(rounds):
                await measure(app, Client(app, token), bodies, concurrency, requests)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.concurrency, args.requests, args.rounds))
