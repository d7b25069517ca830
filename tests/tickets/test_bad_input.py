"""Hostile and clumsy input, on SQLite and PostgreSQL.

``BAD`` is a table: each row is one request that must be refused with a 4xx (never a 5xx), the
error body ``{"error": {"code", "message"}}``, a message that names what is wrong (``mentions``),
and a database that is exactly as it was. ``ODD_BUT_VALID`` are texts that must be stored and
returned verbatim. Last, the anonymous rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.tickets.conftest import (
    LiveServer,
    make_token,
    migrated_database,
    start_server,
)
from triage import TriageModel

OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
TABLES = ("tickets", "messages", "events", "customers", "triage_corrections", "users")
MAX_BODY = 64 * 1024
HUGE = "99999999999999999999"
NOTHING: Any = object()  # no body at all


def inquiry_bytes(size: int) -> bytes:
    """A well-formed inquiry body of exactly ``size`` bytes (its text is far too long, which is fine)."""
    head, tail = b'{"channel":"chat","text":"', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


@dataclass(frozen=True)
class Bad:
    method: str
    path: str  # ``{id}`` is a fresh ticket prepared in status ``ticket``
    body: Any = NOTHING  # sent as JSON
    raw: bytes | None = None  # sent as is
    status: tuple[int, ...] = (422,)
    mentions: tuple[str, ...] = ()  # the message must contain each (case-insensitive)
    caller: str = "anonymous"  # anonymous | customer (of the ticket) | agent | integration
    ticket: str | None = None  # open | resolved
    content_type: str | None = "application/json"
    chunked: bool = False  # no Content-Length: the body is streamed in chunks


INQ = "/api/v1/inquiries"
CONFIRM = "/api/v1/tickets/{id}/confirm"
ESCALATE = "/api/v1/tickets/{id}/escalate"
REROUTE = "/api/v1/tickets/{id}/reroute"
MESSAGES = "/api/v1/tickets/{id}/messages"
LIST = "/api/v1/tickets"


def confirm(body: Any, *mentions: str) -> Bad:
    return Bad("POST", CONFIRM, body, mentions=mentions, caller="customer", ticket="resolved")


def staff(method: str, path: str, body: Any = NOTHING, *mentions: str, status: tuple[int, ...] = (422,)) -> Bad:
    return Bad(method, path, body, mentions=mentions, status=status, caller="agent", ticket="open")


def chat(text_value: Any) -> dict[str, Any]:
    return {"channel": "chat", "text": text_value}


DEEP = "[" * 10_000 + "]" * 10_000

BAD: dict[str, Bad] = {
    # --- the inquiry body -----------------------------------------------------------------------
    "text empty": Bad("POST", INQ, chat(""), mentions=("text",)),
    "text whitespace": Bad("POST", INQ, chat("  \n\t\u3000 "), mentions=("text",)),
    "text invisible only": Bad("POST", INQ, chat("\u200b\u200f\ufeff"), mentions=("text",)),
    "text missing": Bad("POST", INQ, {"channel": "chat"}, mentions=("text",)),
    "text number": Bad("POST", INQ, chat(42), mentions=("text",)),
    "text list": Bad("POST", INQ, chat(["退款"]), mentions=("text",)),
    "text object": Bad("POST", INQ, chat({"zh": "退款"}), mentions=("text",)),
    "text null": Bad("POST", INQ, chat(None), mentions=("text",)),
    "text NUL": Bad("POST", INQ, chat("退款\x00没到"), mentions=("text", "NUL")),
    "text lone surrogate": Bad("POST", INQ, raw=b'{"channel":"chat","text":"\\ud800 hi"}', mentions=("text",)),
    "text 5001 chars": Bad("POST", INQ, chat("退" * 5001), mentions=("text", "5000")),
    "channel unknown": Bad("POST", INQ, {"channel": "fax", "text": OWN_CASE}, mentions=("channel", "chat")),
    "channel missing": Bad("POST", INQ, {"text": OWN_CASE}, mentions=("channel",)),
    "unknown extra field": Bad("POST", INQ, {**chat(OWN_CASE), "priority": "urgent"}, mentions=("priority",)),
    "customer name number": Bad("POST", INQ, {**chat(OWN_CASE), "customer": {"name": 5}}, mentions=("customer.name",)),
    "customer name NUL": Bad("POST", INQ, {**chat(OWN_CASE), "customer": {"name": "张\x00三"}}, mentions=("name",)),
    # --- the body as a whole --------------------------------------------------------------------
    "body 1 MB": Bad("POST", INQ, raw=inquiry_bytes(1024 * 1024), status=(413,), mentions=(str(MAX_BODY),)),
    "body 1 byte over the limit": Bad("POST", INQ, raw=inquiry_bytes(MAX_BODY + 1), status=(413,), mentions=("bytes",)),
    "body exactly at the limit is judged on its text": Bad(
        "POST", INQ, raw=inquiry_bytes(MAX_BODY), mentions=("text",)
    ),
    "body over the limit, chunked": Bad(
        "POST", INQ, raw=inquiry_bytes(MAX_BODY + 4096), chunked=True, status=(413,), mentions=("bytes",)
    ),
    "invalid JSON": Bad("POST", INQ, raw=b'{"channel": "chat", "text": ', mentions=("JSON",)),
    "invalid UTF-8": Bad(
        "POST", INQ, raw=b'{"channel":"chat","text":"\xff\xfe\xfd"}', status=(400, 422), mentions=("body",)
    ),
    "nested 10,000 deep": Bad("POST", INQ, raw=DEEP.encode(), status=(400, 422), mentions=("body",)),
    "nested 10,000 deep as text": Bad(
        "POST", INQ, raw=f'{{"channel":"chat","text":{DEEP}}}'.encode(), status=(400, 422), mentions=("body",)
    ),
    "JSON null": Bad("POST", INQ, raw=b"null", mentions=("object",)),
    "JSON list": Bad("POST", INQ, raw=b"[]", mentions=("object",)),
    "no body": Bad("POST", INQ, mentions=("body",)),
    "JSON sent as text/plain": Bad(
        "POST",
        INQ,
        raw=json.dumps(chat(OWN_CASE)).encode(),
        content_type="text/plain;charset=UTF-8",
        mentions=("JSON",),
    ),
    # --- confirm ----------------------------------------------------------------------------------
    "rating 0": confirm({"resolved": True, "rating": 0}, "rating"),
    "rating 6": confirm({"resolved": True, "rating": 6}, "rating"),
    "rating -1": confirm({"resolved": True, "rating": -1}, "rating"),
    "rating 10**20": confirm({"resolved": True, "rating": 10**20}, "rating"),
    "rating '5'": confirm({"resolved": True, "rating": "5"}, "rating"),
    "rating 4.5": confirm({"resolved": True, "rating": 4.5}, "rating"),
    "rating with resolved false": confirm({"resolved": False, "rating": 3}, "rating", "resolved"),
    "resolved missing": confirm({"rating": 5}, "resolved"),
    "resolved 'yes'": confirm({"resolved": "yes"}, "resolved"),
    "comment NUL": confirm({"resolved": True, "comment": "好\x00"}, "comment"),
    # --- escalate, reroute, messages, triage -----------------------------------------------------
    "escalate reason empty": staff("POST", ESCALATE, {"reason": ""}, "reason"),
    "escalate reason whitespace": staff("POST", ESCALATE, {"reason": "   "}, "reason"),
    "escalate reason missing": staff("POST", ESCALATE, {}, "reason"),
    "reroute neither field": staff("POST", REROUTE, {}, "queue", "intent"),
    "reroute unknown intent": staff("POST", REROUTE, {"intent": "no_such_intent"}, "intent"),
    "reroute unknown queue": staff("POST", REROUTE, {"queue": "nowhere"}, "queue"),
    "reroute queue with NUL": staff("POST", REROUTE, {"queue": "after\x00sales"}, "queue"),
    "message body empty": staff("POST", MESSAGES, {"body": ""}, "body"),
    "message kind unknown": staff("POST", MESSAGES, {"body": "您好", "kind": "sms"}, "kind"),
    "triage text empty": staff("POST", "/api/v1/triage", {"text": " "}, "text"),
    # --- ticket ids ----------------------------------------------------------------------------
    "ticket id missing": staff("GET", "/api/v1/tickets/987654", NOTHING, "987654", status=(404,)),
    "ticket id negative": staff("GET", "/api/v1/tickets/-1", NOTHING, "ticket", status=(404, 422)),
    "ticket id not an int": staff("GET", "/api/v1/tickets/abc", NOTHING, "ticket_id"),
    "ticket id a float": staff("GET", "/api/v1/tickets/1.5", NOTHING, "ticket_id"),
    "ticket id huge": staff("GET", f"/api/v1/tickets/{HUGE}", NOTHING, "ticket", status=(404, 422)),
    "ticket id huge, claim": staff("POST", f"/api/v1/tickets/{HUGE}/claim", NOTHING, "ticket", status=(404, 422)),
    # --- the listing's query -------------------------------------------------------------------
    "limit 0": staff("GET", f"{LIST}?limit=0", NOTHING, "limit"),
    "limit 100000": staff("GET", f"{LIST}?limit=100000", NOTHING, "limit"),
    "limit not an int": staff("GET", f"{LIST}?limit=ten", NOTHING, "limit"),
    "cursor -1": staff("GET", f"{LIST}?cursor=-1", NOTHING, "cursor"),
    "cursor huge": staff("GET", f"{LIST}?cursor={HUGE}", NOTHING, "cursor"),
    "assignee huge": staff("GET", f"{LIST}?assignee={HUGE}", NOTHING, "assignee"),
    "status bogus": staff("GET", f"{LIST}?status=bogus", NOTHING, "status"),
    "channel bogus": staff("GET", f"{LIST}?channel=fax", NOTHING, "channel"),
    "queue too long": staff("GET", f"{LIST}?queue={'q' * 65}", NOTHING, "queue"),
}

ODD_BUT_VALID: dict[str, str] = {
    "SQL": "'; DROP TABLE tickets; --",
    "SQL in double quotes": "Robert\"); DROP TABLE messages; -- \\ '",
    "HTML script": "<script>alert(1)</script>",
    "HTML img onerror": "<img src=x onerror=alert(1)>",
    "emoji only": "😀🎉👍🏽🇨🇳",
    "right-to-left marks": "\u200f订单 \u202eتم الدفع\u202c 没到\u200e",
    "Arabic": "مرحبا، لم يصل طلبي بعد ولم أستلم المبلغ المسترد",
    "Russian": "Здравствуйте, мой заказ не пришёл, верните деньги",
    "5000 characters": ("我的退款还没到账，订单号2024112233。" * 250)[:5000],
}


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------------


@dataclass
class Desk:
    live: LiveServer
    backend: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: TriageModel
) -> Iterator[Desk]:
    with migrated_database(request.param, tmp_path_factory.mktemp("bad_input")) as url:
        live = start_server(
            url, model, max_body_bytes=MAX_BODY, anonymous_inquiries_per_minute=10_000, anonymous_burst=10_000
        )
        try:
            yield Desk(live, request.param)
        finally:
            live.stop()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def prepare(live: LiveServer, state: str) -> tuple[int, str]:
    """A new open (or resolved) ticket; returns (id, customer token)."""
    with live.client(live.token("integration")) as integration:
        created = integration.post(INQ, json=chat(OWN_CASE)).json()
    assert created["status"] == "open", created
    if state == "resolved":
        if "resolver" not in live.tokens:
            live.tokens["resolver"] = make_token(live.engine, "agent", "resolver")
        with live.client(live.tokens["resolver"]) as agent:
            assert agent.post(f"/api/v1/tickets/{created['ticket_id']}/resolve").status_code == 200
    return created["ticket_id"], created["customer_token"]


def send(live: LiveServer, case: Bad, ticket_id: int | None, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    path = case.path.format(id=ticket_id)
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        if case.raw is not None:
            if case.content_type:
                headers["Content-Type"] = case.content_type
            raw = case.raw
            content: Any = iter([raw[i : i + 8192] for i in range(0, len(raw), 8192)]) if case.chunked else raw
            return client.request(case.method, path, content=content, headers=headers)
        if case.body is NOTHING:
            return client.request(case.method, path, headers=headers)
        return client.request(case.method, path, json=case.body, headers=headers)


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_cleanly(desk: Desk, name: str, request: pytest.FixtureRequest) -> None:
    case, live = BAD[name], desk.live
    ticket_id, customer_token = prepare(live, case.ticket) if case.ticket else (None, None)
    token = {"anonymous": None, "customer": customer_token}.get(case.caller)
    if case.caller in ("agent", "integration"):
        token = live.token(case.caller)
    before = counts(live.engine)

    response = send(live, case, ticket_id, token)

    assert response.status_code in case.status, f"{name}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    for key in ("code", "message"):
        assert isinstance(error.get(key), str), body
        assert error[key], body
    for word in case.mentions:
        assert word.lower() in error["message"].lower(), f"{name}: message does not name {word!r}: {error}"
    assert counts(live.engine) == before, f"{name}: the database changed"


@pytest.mark.parametrize("name", list(ODD_BUT_VALID))
def test_odd_text_is_stored_verbatim_and_returned_as_json(desk: Desk, name: str) -> None:
    value, live = ODD_BUT_VALID[name], desk.live
    before = counts(live.engine)
    with live.client() as widget:
        created = widget.post(INQ, json=chat(value))
    assert created.status_code == 201, created.text
    ticket_id, token = created.json()["ticket_id"], created.json()["customer_token"]
    with live.client(token) as customer:
        shown = customer.get(f"/api/v1/tickets/{ticket_id}")
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("application/json")
    ticket = json.loads(shown.content.decode("utf-8"))
    escaped = json.dumps(value, ensure_ascii=False)  # quotes and backslashes escaped, nothing else changed
    assert escaped.encode() in shown.content
    assert ticket["messages"][0]["body"] == value
    assert ticket["messages"][0]["author_type"] == "customer"
    with live.engine.connect() as connection:
        stored = (
            connection.execute(text("SELECT body FROM messages WHERE ticket_id = :id ORDER BY id"), {"id": ticket_id})
            .scalars()
            .first()
        )
    assert stored == value
    after = counts(live.engine)
    assert after["tickets"] == before["tickets"] + 1
    assert after["customers"] == before["customers"] + 1
    assert after["messages"] == before["messages"] + len(ticket["messages"])
    with live.client(live.token("agent")) as agent:  # the customer's view hides the team's events
        audit = agent.get(f"/api/v1/tickets/{ticket_id}").json()["events"]
    assert after["events"] == before["events"] + len(audit)


def test_nul_in_a_list_filter_is_not_a_server_error(desk: Desk, request: pytest.FixtureRequest) -> None:
    with desk.live.client(desk.live.token("agent")) as agent:
        response = agent.get(LIST, params={"queue": "after\x00sales"})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert "queue" in response.json()["error"]["message"]


INT32_PAST = str(2**31)  # one past the largest id a PostgreSQL INTEGER column holds
JUST_PAST_32_BITS = {
    "get ticket": ("GET", f"/api/v1/tickets/{INT32_PAST}"),
    "claim": ("POST", f"/api/v1/tickets/{INT32_PAST}/claim"),
    "list cursor": ("GET", f"{LIST}?cursor={INT32_PAST}"),
    "list assignee": ("GET", f"{LIST}?assignee={INT32_PAST}"),
}


@pytest.mark.parametrize("name", list(JUST_PAST_32_BITS))
def test_ids_just_past_32_bits_are_not_server_errors(desk: Desk, name: str, request: pytest.FixtureRequest) -> None:
    """Ids are bounded in the API at 2**62 (tickets, cursor) and 2**31 (assignee), but the columns are
    32-bit INTEGERs: 2**31 passes validation and overflows PostgreSQL."""
    method, path = JUST_PAST_32_BITS[name]
    before = counts(desk.live.engine)
    with desk.live.client(desk.live.token("agent")) as agent:
        response = agent.request(method, path)
    assert response.status_code in (200, 404, 422), response.text[:300]
    if response.status_code != 200:
        assert set(response.json()) == {"error"}
    assert counts(desk.live.engine) == before


def test_anonymous_inquiries_are_rate_limited_and_integrations_are_not(database_url: str, model: TriageModel) -> None:
    live = start_server(database_url, model, anonymous_inquiries_per_minute=5, anonymous_burst=3)
    try:
        with live.client() as widget:
            allowed = [widget.post(INQ, json=chat(f"{OWN_CASE} 第{i}次")).status_code for i in range(3)]
            before = counts(live.engine)
            limited = widget.post(INQ, json=chat(f"{OWN_CASE} 第4次"))
            assert counts(live.engine) == before
            with live.client(live.token("integration")) as integration:
                gateway = [integration.post(INQ, json=chat(f"{OWN_CASE} 网关{i}")).status_code for i in range(8)]
            still_limited = widget.post(INQ, json=chat(f"{OWN_CASE} 第5次"))
    finally:
        live.stop()
    assert allowed == [201, 201, 201]
    assert limited.status_code == 429, limited.text
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 12  # one token refills in 60 / 5 = 12 s
    error = limited.json()["error"]
    assert error["code"] == "rate_limited"
    assert "retry" in error["message"]
    assert gateway == [201] * 8
    assert still_limited.status_code == 429
