"""Helpers for the SLA monitor, event stream and webhook tests: an SSE reader over httpx streaming, an
in-process server whose background jobs run, and real ``triage serve`` processes with extra settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.tickets.conftest import LiveServer, start_server
from tickets.sla.calendar import CN_MAINLAND
from tickets.sla.policy import DEFAULT_POLICY_FILE
from triage import TriageModel

TRIAGE = str(Path(sys.executable).with_name("triage"))
STREAM = "/api/v1/events/stream"


# --------------------------------------------------------------------------- server-sent events


@dataclass(frozen=True)
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]
    at: float = field(compare=False)  # time.monotonic() when it arrived


class SseStream:
    """An open ``text/event-stream`` response, parsed line by line in the calling thread."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw: list[str] = []
        self.backlog: list[SseEvent] = []
        self._items = self._parse()

    def _parse(self) -> Iterator[SseEvent | str]:
        fields: dict[str, str] = {}
        for line in self.response.iter_lines():
            self.raw.append(line)
            if line.startswith(":"):
                yield line[1:].strip()  # a comment: "connected" or "heartbeat"
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                yield SseEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]), time.monotonic())
                assert fields["event"] == json.loads(fields["data"])["type"]
                fields = {}

    def connect(self) -> list[SseEvent]:
        """Read the replayed backlog, up to the ``: connected`` comment (from then on the client is live)."""
        for item in self._items:
            if item == "connected":
                return self.backlog
            if isinstance(item, SseEvent):
                self.backlog.append(item)
        raise AssertionError(f"the stream ended before ': connected' ({self.raw})")

    def read_until(self, stop: Callable[[SseEvent], bool]) -> list[SseEvent]:
        """Events up to and including the first one for which ``stop`` is true (bounded by the read timeout)."""
        got: list[SseEvent] = []
        for item in self._items:
            if isinstance(item, SseEvent):
                got.append(item)
                if stop(item):
                    return got
        raise AssertionError(f"the stream ended before the awaited event; got {[(e.id, e.type) for e in got]}")

    def take(self, count: int) -> list[SseEvent]:
        """The next ``count`` events."""
        seen: list[SseEvent] = []

        def enough(event: SseEvent) -> bool:
            seen.append(event)
            return len(seen) == count

        return self.read_until(enough)


@contextmanager
def open_stream(
    base_url: str,
    token: str,
    params: dict[str, Any] | None = None,
    last_event_id: int | None = None,
    read_timeout: float = 20.0,
) -> Iterator[SseStream]:
    """GET the event stream with httpx streaming; returns once the server says the client is live."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    timeout = httpx.Timeout(10.0, read=read_timeout)
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client,
        client.stream("GET", STREAM, params=params) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SseStream(response)
        stream.connect()
        yield stream


# --------------------------------------------------------------------------- servers


def start_server_with_jobs(database_url: str, model: TriageModel, **settings: Any) -> LiveServer:
    """Like conftest's ``start_server``, on real time, with the background jobs (SLA monitor, webhooks) on."""
    return start_server(database_url, model, run_jobs=True, **settings)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    base_url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_process(database_url: str, **env: str) -> ServeProcess:
    """A real ``triage serve`` on a free port (extra ``TRIAGE_*`` settings as keyword arguments)."""
    port = _free_port()
    environment = {**os.environ, "TRIAGE_DATABASE_URL": database_url, **env}
    proc = subprocess.Popen(
        [TRIAGE, "serve", "--port", str(port)], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"triage serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return ServeProcess(proc, base)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("triage serve did not become healthy in 60 s")


def policy_file(directory: Path, **first_response: str) -> Path:
    """A copy of the shipped policies with other first-response targets, e.g. ``phone="2s"``."""
    names = {"phone": "电话热线", "chat": "在线客服", "email": "邮件", "web": "网页表单"}
    text = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    text = text.replace('"calendars/cn_mainland.toml"', json.dumps(str(CN_MAINLAND)))
    blocks = text.split("[[policy]]")
    for channel, target in first_response.items():
        for i, block in enumerate(blocks):
            if f'name = "{names[channel]}"' in block:
                lines = [
                    f'first_response = "{target}"' if ln.startswith("first_response") else ln
                    for ln in block.split("\n")
                ]
                blocks[i] = "\n".join(lines)
    path = directory / "policies.toml"
    path.write_text("[[policy]]".join(blocks), encoding="utf-8")
    return path
