"""HTTP load benchmark on loopback with wrk: inquiries, a mixed agent workload, and /healthz.

Starts real servers (`triage serve`) and drives them with wrk (Debian package `wrk`) at 32
connections:
- SQLite, one worker (the embedded default);
- PostgreSQL, two workers (needs the server at TRIAGE_TEST_POSTGRES_URL; skipped if absent).

Scenarios, each against the same server in the same run:
- ``inquiries``: POST /api/v1/inquiries with an integration token (not rate-limited), texts drawn
  from the held-out set, so classify + store + auto-reply or queue;
- ``agent mix``: 45% GET /api/v1/tickets?queue=..., 45% GET /api/v1/tickets/{id}, 10% POST /api/v1/triage;
- ``healthz``: GET /healthz, the near no-op baseline.

Run: ``.venv/bin/python benchmarks/bench_http.py [--seconds 10] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TRIAGE = str(Path(sys.executable).with_name("triage"))
PG_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CONNECTIONS = 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def texts() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "training_data/heldout/heldout.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows]


def lua_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def inquiry_script(token: str, pool: list[str]) -> str:
    bodies = ",\n".join(
        lua_string(json.dumps({"channel": random.choice(["chat", "web", "email"]), "text": t}, ensure_ascii=False))
        for t in pool
    )
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local bodies = {{{bodies}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/api/v1/inquiries", nil, bodies[(i % #bodies) + 1])
end
"""


def agent_script(token: str, max_id: int, pool: list[str]) -> str:
    triage_bodies = ",\n".join(lua_string(json.dumps({"text": t}, ensure_ascii=False)) for t in pool[:200])
    return f"""
local queues = {{"after_sales", "billing", "tech_support", "presales", "complaints", "general"}}
local bodies = {{{triage_bodies}}}
local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}
math.randomseed(7)
request = function()
  local r = math.random()
  if r < 0.45 then
    return wrk.format("GET", "/api/v1/tickets?limit=20&queue=" .. queues[math.random(#queues)], headers)
  elseif r < 0.90 then
    return wrk.format("GET", "/api/v1/tickets/" .. math.random({max_id}), headers)
  end
  return wrk.format("POST", "/api/v1/triage", headers, bodies[math.random(#bodies)])
end
"""


def run_wrk(url: str, seconds: int, script: str | None = None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as handle:
        handle.write(script or "")
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", handle.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": total,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def start(database_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [TRIAGE, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def token(database_url: str, role: str) -> str:
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url}
    result = subprocess.run(
        [TRIAGE, "users", "add", "--name", f"bench-{role}", "--role", role],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def bench_backend(name: str, database_url: str, workers: int, seconds: int, pool: list[str]) -> list[dict[str, Any]]:
    integration, agent = token(database_url, "integration"), token(database_url, "agent")
    proc, base = start(database_url, workers)
    try:
        rows = []
        inquiries = run_wrk(base, seconds, inquiry_script(integration, pool))
        rows.append({"backend": name, "workers": workers, "scenario": "POST /inquiries", **inquiries})
        max_id = int(inquiries["requests"] * 0.9) or 1
        rows.append(
            {
                "backend": name,
                "workers": workers,
                "scenario": "agent mix",
                **run_wrk(base, seconds, agent_script(agent, max_id, pool)),
            }
        )
        rows.append(
            {"backend": name, "workers": workers, "scenario": "GET /healthz", **run_wrk(f"{base}/healthz", seconds)}
        )
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def postgres_database() -> tuple[str, str] | None:
    try:
        import psycopg

        name = f"triage_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return PG_URL.rsplit("/", 1)[0] + "/" + name, name
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}")
        return None


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    random.seed(7)
    pool = texts()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_backend("SQLite", f"sqlite:///{tmp}/bench.db", 1, args.seconds, pool)
    pg = postgres_database()
    if pg:
        try:
            rows += bench_backend("PostgreSQL", pg[0], 2, args.seconds, pool)
        finally:
            drop_postgres(pg[1])
    print(f"\n{'backend':<11} {'workers':>7} {'scenario':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for r in rows:
        print(
            f"{r['backend']:<11} {r['workers']:>7} {r['scenario']:<16} {r['rps']:>8.0f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['non_2xx']:>8}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
