"""The auto-close job with an injected clock, and the schema guard at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.tickets.conftest import LiveServer
from tickets.api.app import run_auto_close
from tickets.db import current_revision, head_revision, make_engine, upgrade

TRIAGE = str(Path(sys.executable).with_name("triage"))


class TestAutoClose:
    def _resolved_ticket(self, live: LiveServer) -> tuple[int, str]:
        created = httpx.post(
            f"{live.base_url}/api/v1/inquiries", json={"channel": "web", "text": "我的发票一直没收到 订单尾号3321"}
        ).json()
        with live.client(live.token("agent")) as agent:
            assert agent.post(f"/api/v1/tickets/{created['ticket_id']}/resolve").status_code == 200
        return created["ticket_id"], created["customer_token"]

    def test_closes_unconfirmed_only_after_the_configured_time(self, live: LiveServer) -> None:
        live.clock.freeze()
        ticket_id, customer = self._resolved_ticket(live)
        live.clock.advance(hours=71, minutes=59)
        assert run_auto_close(live.app) == 0
        live.clock.advance(minutes=2)
        assert run_auto_close(live.app) == 1
        with live.client(customer) as me:
            ticket = me.get(f"/api/v1/tickets/{ticket_id}").json()
        assert (ticket["status"], ticket["close_reason"]) == ("closed", "unconfirmed")
        last = [e for e in ticket["events"] if e["type"].startswith("ticket.")][-1]
        assert (last["type"], last["actor_type"], last["from_status"]) == ("ticket.closed", "system", "resolved")
        assert run_auto_close(live.app) == 0  # nothing is closed twice

    def test_a_customer_answer_keeps_it_open(self, live: LiveServer) -> None:
        live.clock.freeze()
        ticket_id, customer = self._resolved_ticket(live)
        live.clock.advance(hours=10)
        with live.client(customer) as me:
            me.post(f"/api/v1/tickets/{ticket_id}/confirm", json={"resolved": False})
        live.clock.advance(hours=100)
        assert run_auto_close(live.app) == 0

    def test_an_unanswered_faq_auto_reply_is_closed_unconfirmed(self, live: LiveServer) -> None:
        live.clock.freeze()
        created = httpx.post(
            f"{live.base_url}/api/v1/inquiries", json={"channel": "chat", "text": "怎么开发票？"}
        ).json()
        assert created["status"] == "auto_replied"
        live.clock.advance(hours=71)
        assert run_auto_close(live.app) == 0
        live.clock.advance(hours=2)
        assert run_auto_close(live.app) == 1
        with live.client(created["customer_token"]) as me:
            ticket = me.get(f"/api/v1/tickets/{created['ticket_id']}").json()
        assert (ticket["status"], ticket["close_reason"]) == ("closed", "unconfirmed")


class TestSchemaGuard:
    def test_serve_refuses_an_out_of_date_schema_and_says_what_to_run(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/old.db"
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
        result = subprocess.run(
            [TRIAGE, "serve", "--port", "1"],
            env={**os.environ, "TRIAGE_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "triage db upgrade" in result.stderr
        assert current_revision(engine) == "0000_older"
        engine.dispose()

    def test_db_upgrade_creates_a_fresh_database_at_head(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/new.db"
        result = subprocess.run(
            [TRIAGE, "db", "upgrade"], env={**os.environ, "TRIAGE_DATABASE_URL": url}, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert current_revision(make_engine(url)) == head_revision()


def test_users_add_prints_a_working_token_once(live: LiveServer, database_url: str) -> None:
    result = subprocess.run(
        [TRIAGE, "users", "add", "--name", "小张", "--role", "supervisor"],
        env={**os.environ, "TRIAGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    token = result.stdout.strip()
    with live.client(token) as supervisor:
        assert supervisor.get("/api/v1/tickets").status_code == 200
    assert token not in result.stderr
    with live.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM users"))]
    assert token not in stored
    assert all(len(h) == 64 for h in stored)
