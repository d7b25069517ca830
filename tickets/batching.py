"""Group commit for new inquiries: one writer thread stores the inquiries of many requests at once.

Each request checks and classifies its inquiry (``service.prepare_inquiry``, CPU only, in the
request) and awaits ``InquiryWriter.store``. The inquiries that the event loop handles in one
pass of its ready queue are handed to the writer thread together, at the end of that pass (no
timer: an idle server hands over a lone inquiry at once). The writer takes everything handed over
so far (at most ``max_batch`` at a time), stores it with ``service.store_inquiries`` in one
transaction (one multi-row statement per table, one commit) and only then resolves the requests'
futures, with one wake-up of the event loop per batch: a 201 is never sent for an uncommitted ticket.

If a batch fails, nothing of it was written (one transaction) and the writer stores its
inquiries again one by one, each in its own transaction, so only the one the database refuses
fails, with its own error, and the others are stored as if nothing happened.

While the writer waits for the database (statements and commit run in C with the GIL released)
the event loop keeps parsing and classifying the next requests on the other core; under load
the batches grow by themselves and the commit cost per inquiry shrinks with them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from tickets import service
from tickets.auth import Principal
from tickets.db import session_scope
from tickets.metrics import Metrics
from tickets.sla.tracking import SlaTracker
from triage import TriageModel

log = logging.getLogger("tickets.batching")
MAX_BATCH = 64


@dataclass(frozen=True)
class _Pending:
    prepared: service.PreparedInquiry
    future: asyncio.Future[service.CreatedInquiry]
    loop: asyncio.AbstractEventLoop


class WriterStopped(RuntimeError):
    """The writer is not running (the application is starting up or shutting down)."""


class InquiryWriter:
    """The group-commit writer of one process: ``start()`` at startup, ``stop()`` at shutdown."""

    def __init__(
        self, engine: Engine, sla: SlaTracker, *, max_batch: int = MAX_BATCH, metrics: Metrics | None = None
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.sla = sla
        self.max_batch = max_batch
        self.metrics = metrics
        # Hand-overs from the event loop(s) to the writer thread; an empty list only wakes it up.
        self._queue: queue.SimpleQueue[list[_Pending]] = queue.SimpleQueue()
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}  # this pass of each loop
        self._lock = threading.Lock()  # accepting and handing over, against the final drain of stop()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closed = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="inquiry-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new inquiries, store everything already accepted, then end the thread."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put([])  # wakes the thread if it is waiting
        self._thread.join(timeout)
        self._thread = None
        with self._lock:
            self._closed = True
            leftovers = [p for loop in list(self._waiting) for p in self._waiting.pop(loop, [])]
            while not self._queue.empty():
                leftovers += self._queue.get_nowait()
        for start in range(0, len(leftovers), self.max_batch):
            self._write(leftovers[start : start + self.max_batch])

    async def create(
        self, model: TriageModel, caller: Principal, inquiry: service.NewInquiry, now: dt.datetime
    ) -> service.CreatedInquiry:
        """``service.create_inquiry`` through the group commit: the checks and the classification
        run here, in the request (a refused inquiry never reaches a batch); the write joins the next batch."""
        return await self.store(service.prepare_inquiry(model, caller, inquiry, now))

    async def store(self, prepared: service.PreparedInquiry) -> service.CreatedInquiry:
        """Store one prepared inquiry with the others of this moment; returns after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[service.CreatedInquiry] = loop.create_future()
        with self._lock:  # never held for long: against stop() draining what was accepted
            if self._thread is None or self._stopping.is_set():
                raise WriterStopped("the inquiry writer is not running")
            waiting = self._waiting.get(loop)
            if waiting is None:
                waiting = self._waiting[loop] = []
                # Runs once the loop has worked through what is ready now: every inquiry that
                # reaches this point in the meantime joins the same hand-over.
                loop.call_soon(self._hand_over, loop)
            waiting.append(_Pending(prepared, future, loop))
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            waiting = self._waiting.pop(loop, None)
            if not waiting:
                return
            if not self._closed:
                self._queue.put(waiting)
                return
        self._write(waiting)  # accepted just before stop() finished: store it here

    def _next(self) -> list[_Pending] | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _run(self) -> None:
        backlog: list[_Pending] = []
        while backlog or not (self._stopping.is_set() and self._queue.empty()):
            if not backlog:
                backlog = list(self._queue.get())  # blocks until a hand-over: no timer, no polling
            while (more := self._next()) is not None:
                backlog += more
            batch, backlog = backlog[: self.max_batch], backlog[self.max_batch :]
            if not batch:
                continue
            try:
                self._write(batch)
            except Exception:  # never let the thread die: every later request would wait forever
                log.exception("the inquiry writer failed to settle a batch")

    def _write(self, batch: list[_Pending]) -> None:
        outcomes: list[service.CreatedInquiry | BaseException]
        try:
            outcomes = list(self._store([p.prepared for p in batch]))
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning("a batch of %d inquiries failed (%s); storing them one by one", len(batch), exc)
                outcomes = [self._store_alone(p.prepared) for p in batch]
        if self.metrics is not None:
            self.metrics.inc("inquiry_batches_total")
            self.metrics.inc("inquiries_stored_total", sum(not isinstance(o, BaseException) for o in outcomes))
        _settle(batch, outcomes)

    def _store(self, prepared: Sequence[service.PreparedInquiry]) -> list[service.CreatedInquiry]:
        with session_scope(self.engine) as session:
            return service.store_inquiries(session, self.sla, prepared)

    def _store_alone(self, prepared: service.PreparedInquiry) -> service.CreatedInquiry | BaseException:
        try:
            return self._store([prepared])[0]
        except Exception as exc:
            return exc


def _settle(batch: list[_Pending], outcomes: list[service.CreatedInquiry | BaseException]) -> None:
    """Hand each request its result on its own event loop: one wake-up per loop, not per request."""
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = defaultdict(list)
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop[pending.loop].append((pending.future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.warning("%d stored inquiries could not be acknowledged: their event loop is closed", len(settled))


def _resolve(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if future.done():  # the request was cancelled (client gone); the ticket is stored all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
