"""Who may call what: one matrix of every endpoint x every kind of caller, on SQLite and PostgreSQL.

Read ``MATRIX`` as a table: a row per endpoint, a column per caller, the HTTP status expected.
The rules it encodes (spec "Authentication and roles", roles from ``tickets/api/deps.py``):

* no, malformed, unknown or revoked token: 401 (only the public widget's non-phone inquiry and
  ``/healthz`` admit anonymous callers; ``/healthz`` does not look at the header at all);
* a valid token whose role may never do this: 403, decided before the ticket is looked at, so it
  says nothing about whether the ticket exists;
* a customer token on a ticket that is not its own: 404 (see ``test_other_customers_ticket_looks_missing``);
* an allowed caller: 2xx; every ticket is freshly prepared in a status where the action is allowed.

Every denied call must leave the database untouched.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from tests.tickets.conftest import (
    LiveServer,
    make_token,
    migrated_database,
    start_server,
)
from tickets.auth import hash_token, revoke_user
from tickets.db import session_scope
from tickets.models import User
from triage import TriageModel

OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
TABLES = ("tickets", "messages", "events", "customers", "triage_corrections", "users")


# --------------------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------------------

CALLERS = (
    "anonymous",  # no Authorization header
    "basic",  # Authorization: Basic x
    "bearer_empty",  # Authorization: "Bearer "
    "unknown",  # a well-formed staff token nobody was given
    "unknown_customer",  # a well-formed customer token (ct_...) of no ticket
    "revoked",  # an agent whose token was revoked
    "own_customer",  # the customer token of the ticket in the path
    "other_customer",  # the customer token of a different ticket (a different customer)
    "agent",
    "supervisor",
    "integration",
    "admin",
)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # ``{id}`` is the prepared ticket
    body: dict[str, Any] | None = None
    ticket: str | None = None  # the status the ticket is prepared in: open | phone (open) | resolved


ENDPOINTS: dict[str, Endpoint] = {
    "inquiry_chat": Endpoint("POST", "/api/v1/inquiries", {"channel": "chat", "text": OWN_CASE}),
    "inquiry_phone": Endpoint("POST", "/api/v1/inquiries", {"channel": "phone", "text": OWN_CASE}),
    "list_tickets": Endpoint("GET", "/api/v1/tickets"),
    "get_ticket": Endpoint("GET", "/api/v1/tickets/{id}", ticket="open"),
    "claim": Endpoint("POST", "/api/v1/tickets/{id}/claim", ticket="open"),
    "message_text": Endpoint("POST", "/api/v1/tickets/{id}/messages", {"body": "请再等一下，正在查询"}, ticket="open"),
    "message_call_answered": Endpoint(
        "POST", "/api/v1/tickets/{id}/messages", {"body": "坐席 1002 接起", "kind": "call_answered"}, ticket="phone"
    ),
    "resolve": Endpoint("POST", "/api/v1/tickets/{id}/resolve", {"note": "已加急处理"}, ticket="open"),
    "confirm": Endpoint("POST", "/api/v1/tickets/{id}/confirm", {"resolved": True, "rating": 5}, ticket="resolved"),
    "escalate": Endpoint("POST", "/api/v1/tickets/{id}/escalate", {"reason": "客户第三次催促"}, ticket="open"),
    "reroute": Endpoint("POST", "/api/v1/tickets/{id}/reroute", {"intent": "complaint"}, ticket="open"),
    "corrections": Endpoint("GET", "/api/v1/corrections"),
    "triage": Endpoint("POST", "/api/v1/triage", {"text": OWN_CASE}),
    "healthz": Endpoint("GET", "/healthz"),
    "metrics": Endpoint("GET", "/metrics"),
}

# fmt: off
#                           anon basic bearer unkn unkc revok  own  other agent  sup  integ admin
MATRIX: dict[str, tuple[int, ...]] = {
    "inquiry_chat":          (201, 401,  401,  401, 401, 401,  201,  201,  403,  403,  201,  201),
    "inquiry_phone":         (401, 401,  401,  401, 401, 401,  403,  403,  403,  403,  201,  201),
    "list_tickets":          (401, 401,  401,  401, 401, 401,  403,  403,  200,  200,  403,  403),
    "get_ticket":            (401, 401,  401,  401, 401, 401,  200,  404,  200,  200,  403,  403),
    "claim":                 (401, 401,  401,  401, 401, 401,  403,  403,  200,  403,  403,  403),
    "message_text":          (401, 401,  401,  401, 401, 401,  201,  404,  201,  403,  403,  403),
    "message_call_answered": (401, 401,  401,  401, 401, 401,  403,  403,  403,  403,  201,  403),
    "resolve":               (401, 401,  401,  401, 401, 401,  403,  403,  200,  403,  403,  403),
    "confirm":               (401, 401,  401,  401, 401, 401,  200,  404,  403,  403,  403,  403),
    "escalate":              (401, 401,  401,  401, 401, 401,  403,  403,  200,  200,  403,  403),
    "reroute":               (401, 401,  401,  401, 401, 401,  403,  403,  200,  200,  403,  403),
    "corrections":           (401, 401,  401,  401, 401, 401,  403,  403,  200,  200,  403,  403),
    "triage":                (401, 401,  401,  401, 401, 401,  403,  403,  200,  403,  200,  403),
    "healthz":               (200, 200,  200,  200, 200, 200,  200,  200,  200,  200,  200,  200),
    "metrics":               (401, 401,  401,  401, 401, 401,  403,  403,  403,  200,  200,  200),
}
# fmt: on

# (endpoint, caller) -> the application bug that makes the cell fail, as a strict xfail.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _matrix_params() -> list[Any]:
    assert set(MATRIX) == set(ENDPOINTS)
    params = []
    for endpoint, row in MATRIX.items():
        assert len(row) == len(CALLERS), endpoint
        for caller, status in zip(CALLERS, row, strict=True):
            bug = KNOWN_BUGS.get((endpoint, caller))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(endpoint, caller, status, id=f"{endpoint}-{caller}", marks=marks))
    return params


# --------------------------------------------------------------------------------------------------
# One server per backend for the whole module (a fresh ticket per cell keeps the cells independent)
# --------------------------------------------------------------------------------------------------


@dataclass
class Desk:
    live: LiveServer
    setup_agent: str
    revoked: str
    other_customer: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: TriageModel
) -> Iterator[Desk]:
    with migrated_database(request.param, tmp_path_factory.mktemp("access")) as url:
        live = start_server(url, model, anonymous_inquiries_per_minute=10_000, anonymous_burst=10_000)
        try:
            revoked = make_token(live.engine, "agent", "revoked agent")
            revoke(live.engine, revoked)
            other = create_ticket(live, "open")[1]
            yield Desk(live, make_token(live.engine, "agent", "setup agent"), revoked, other)
        finally:
            live.stop()


def revoke(engine: Engine, token: str) -> None:
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.token_hash == hash_token(token))).one()
        assert user.id is not None
        revoke_user(session, user.id, dt.datetime.now(dt.UTC))


def create_ticket(live: LiveServer, state: str, setup_agent: str | None = None) -> tuple[int, str]:
    """A new ticket in ``state`` (open chat, open phone or resolved); returns (id, customer token)."""
    channel = "phone" if state == "phone" else "chat"
    with live.client(live.token("integration")) as integration:
        created = integration.post("/api/v1/inquiries", json={"channel": channel, "text": OWN_CASE})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "open", created.text
    ticket_id = created.json()["ticket_id"]
    if state == "resolved":
        with live.client(setup_agent or live.token("agent")) as agent:
            resolved = agent.post(f"/api/v1/tickets/{ticket_id}/resolve")
        assert resolved.json()["status"] == "resolved", resolved.text
    return ticket_id, created.json()["customer_token"]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


def send(base_url: str, method: str, path: str, authorization: str | None, body: Any = None) -> Reply:
    """Raw HTTP, so that headers httpx refuses to send (``Bearer `` with its trailing space) go out as is."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    headers = {"Authorization": authorization} if authorization is not None else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def authorization(desk: Desk, caller: str, own_token: str | None) -> str | None:
    live = desk.live
    headers = {
        "anonymous": None,
        "basic": "Basic x",
        "bearer_empty": "Bearer ",
        "unknown": f"Bearer td_{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "unknown_customer": f"Bearer ct_{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "revoked": f"Bearer {desk.revoked}",
        "own_customer": f"Bearer {own_token}",
        "other_customer": f"Bearer {desk.other_customer}",
    }
    if caller in headers:
        return headers[caller]
    return f"Bearer {live.token(caller)}"


def assert_error_body(reply: Reply) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}, body
    for key in ("code", "message"):
        assert isinstance(body["error"].get(key), str), body
        assert body["error"][key], body
    return dict(body["error"])


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "caller", "expected"), _matrix_params())
def test_access_matrix(desk: Desk, endpoint: str, caller: str, expected: int) -> None:
    spec = ENDPOINTS[endpoint]
    ticket_id, own_token = None, None
    if spec.ticket or caller == "own_customer":
        ticket_id, own_token = create_ticket(desk.live, spec.ticket or "open", desk.setup_agent)
    path = spec.path.format(id=ticket_id)
    header = authorization(desk, caller, own_token)  # creates the role's token before counting
    before = counts(desk.live.engine)

    reply = send(desk.live.base_url, spec.method, path, header, spec.body)

    assert reply.status == expected, f"{spec.method} {path} as {caller}: {reply.status} {reply.raw[:300]!r}"
    if expected < 400:
        return
    error = assert_error_body(reply)
    assert counts(desk.live.engine) == before, "a refused call changed the database"
    if expected == 401:
        assert reply.headers.get("www-authenticate") == "Bearer"
    if expected == 403:
        assert error["code"] == "forbidden"
    if expected == 404:
        assert error["code"] == "not_found"


def test_revoking_a_token_takes_effect_on_the_very_next_request(desk: Desk) -> None:
    live = desk.live
    token = make_token(live.engine, "agent", "soon revoked")
    ticket_id, _ = create_ticket(live, "open")
    with live.client(token) as agent:  # one keep-alive connection: nothing may be cached on it
        assert agent.get("/api/v1/tickets").status_code == 200
        assert agent.get(f"/api/v1/tickets/{ticket_id}").status_code == 200
        revoke(live.engine, token)
        after = [
            agent.get("/api/v1/tickets"),
            agent.get(f"/api/v1/tickets/{ticket_id}"),
            agent.post(f"/api/v1/tickets/{ticket_id}/claim"),
            agent.post("/api/v1/triage", json={"text": OWN_CASE}),
        ]
    for response in after:
        assert response.status_code == 401, response.text
        assert "revoked" in response.json()["error"]["message"]
    with live.client(live.token("supervisor")) as supervisor:
        assert supervisor.get(f"/api/v1/tickets/{ticket_id}").json()["assignee_id"] is None


def _customer_tokens_in_every_status(desk: Desk) -> dict[str, str]:
    live = desk.live
    tokens = {}
    _, tokens["open"] = create_ticket(live, "open")
    _, tokens["phone"] = create_ticket(live, "phone")
    pending_id, tokens["pending_customer"] = create_ticket(live, "open")
    _, tokens["resolved"] = create_ticket(live, "resolved", desk.setup_agent)
    closed_id, tokens["closed"] = create_ticket(live, "resolved", desk.setup_agent)
    with live.client(desk.setup_agent) as agent, live.client(tokens["closed"]) as closer:
        assert agent.post(f"/api/v1/tickets/{pending_id}/messages", json={"body": "已处理"}).status_code == 201
        assert closer.post(f"/api/v1/tickets/{closed_id}/confirm", json={"resolved": True}).status_code == 200
    return tokens


def test_a_customer_token_never_opens_the_ticket_listing(desk: Desk) -> None:
    queries: list[dict[str, Any]] = [
        {},
        {"status": "open"},
        {"channel": "chat"},
        {"queue": "after_sales"},
        {"limit": 1},
        {"cursor": 10**6},
        {"assignee": 1},
        {"status": "closed", "limit": 200},
    ]
    for status, token in _customer_tokens_in_every_status(desk).items():
        with desk.live.client(token) as customer:
            for params in queries:
                response = customer.get("/api/v1/tickets", params=params)
                assert response.status_code == 403, (status, params, response.text)
                assert "items" not in response.json()
            slash = customer.get("/api/v1/tickets/", follow_redirects=True)
            assert slash.status_code == 403, (status, slash.text)


@pytest.mark.parametrize("endpoint", [name for name, spec in ENDPOINTS.items() if spec.ticket])
def test_other_customers_ticket_looks_missing(desk: Desk, endpoint: str) -> None:
    """A customer learns nothing from another ticket's id: same answer as for an id that does not exist."""
    spec = ENDPOINTS[endpoint]
    ticket_id, _ = create_ticket(desk.live, spec.ticket or "open", desk.setup_agent)
    missing_id = ticket_id + 1_000_000
    header = f"Bearer {desk.other_customer}"
    real = send(desk.live.base_url, spec.method, spec.path.format(id=ticket_id), header, spec.body)
    missing = send(desk.live.base_url, spec.method, spec.path.format(id=missing_id), header, spec.body)
    assert real.status in (403, 404)
    assert real.status == missing.status
    real_error, missing_error = assert_error_body(real), assert_error_body(missing)
    assert real_error["code"] == missing_error["code"]
    assert real_error["message"].replace(str(ticket_id), "N") == missing_error["message"].replace(str(missing_id), "N")


def test_a_customer_token_opens_its_own_ticket_only_even_for_the_same_customer(desk: Desk) -> None:
    first_id, first_token = create_ticket(desk.live, "open")
    with desk.live.client(first_token) as first:
        second = first.post("/api/v1/inquiries", json={"channel": "chat", "text": "还有一个订单也没到账"})
        assert second.status_code == 201, second.text
        second_id, second_token = second.json()["ticket_id"], second.json()["customer_token"]
        assert first.get(f"/api/v1/tickets/{first_id}").status_code == 200
        assert first.get(f"/api/v1/tickets/{second_id}").status_code == 404
    with desk.live.client(second_token) as later:
        assert later.get(f"/api/v1/tickets/{second_id}").status_code == 200
        assert later.get(f"/api/v1/tickets/{first_id}").status_code == 404
