"""A small Prometheus text-format registry: request counts and latency by route and status."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.counters: defaultdict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            buckets = self.latency_buckets[route]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            buckets[-1] += 1
            self.latency_sum[route] += seconds

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def render(self) -> str:
        lines = [
            "# HELP triage_http_requests_total HTTP requests by method, route and status.",
            "# TYPE triage_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self.requests.items()):
                lines.append(
                    f'triage_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}'
                )
            lines += [
                "# HELP triage_http_request_seconds Request latency by route.",
                "# TYPE triage_http_request_seconds histogram",
            ]
            for route, buckets in sorted(self.latency_buckets.items()):
                for bound, count in zip((*BUCKETS, "+Inf"), buckets, strict=True):
                    lines.append(f'triage_http_request_seconds_bucket{{route="{route}",le="{bound}"}} {count}')
                lines.append(f'triage_http_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
                lines.append(f'triage_http_request_seconds_count{{route="{route}"}} {buckets[-1]}')
            for name, value in sorted(self.counters.items()):
                lines += [f"# TYPE triage_{name} counter", f"triage_{name} {value}"]
        return "\n".join(lines) + "\n"

    def install(self, app: Any) -> None:
        app.add_middleware(_MetricsMiddleware, metrics=self)


class _MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)
