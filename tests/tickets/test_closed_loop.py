"""The whole closed loop through real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from tests.tickets.conftest import LiveServer

OWN_CASE = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
GENERAL = "退款一般多久能到账？"


def inquiry(live: LiveServer, text: str, channel: str = "chat", token: str | None = None) -> dict[str, Any]:
    with live.client(token) as client:
        response = client.post("/api/v1/inquiries", json={"channel": channel, "text": text})
    assert response.status_code == 201, response.text
    return response.json()


def event_types(ticket: dict[str, Any]) -> list[str]:
    """The ticket's lifecycle events (SLA moments are checked separately)."""
    return [e["type"] for e in ticket["events"] if e["type"].startswith("ticket.")]


def sla_moments(ticket: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["type"], e["details"]["metric"]) for e in ticket["events"] if e["type"].startswith("sla.")]


class TestInquiry:
    def test_own_case_opens_in_its_human_queue(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        assert created["status"] == "open"
        assert created["auto_reply"] is None
        assert created["triage"]["intent"] == "refund"
        assert created["triage"]["queue"] == "after_sales"
        with live.client(live.token("agent")) as client:
            ticket = client.get(f"/api/v1/tickets/{created['ticket_id']}").json()
        assert ticket["messages"][0]["body"] == OWN_CASE
        assert event_types(ticket) == ["ticket.created", "ticket.triaged", "ticket.queued"]
        assert sla_moments(ticket) == [("sla.started", "first_response"), ("sla.started", "resolution")]
        assert ticket["sla"]["first_response"]["state"] == "running"
        assert ticket["sla"]["first_response"]["target_seconds"] == 30
        assert 0 < ticket["sla"]["first_response"]["seconds_left"] <= 30

    def test_general_question_gets_the_faq_answer(self, live: LiveServer, model: Any) -> None:
        created = inquiry(live, GENERAL)
        assert created["status"] == "auto_replied"
        assert created["auto_reply"]["faq_id"] == "refund_timeline"
        assert created["auto_reply"]["answer"] == model.taxonomy.faqs["refund_timeline"].answer
        with live.client(created["customer_token"]) as client:
            ticket = client.get(f"/api/v1/tickets/{created['ticket_id']}").json()
        assert [m["kind"] for m in ticket["messages"]] == ["text", "auto_reply"]
        assert ticket["sla"]["first_response"]["state"] == "not_started"
        assert sla_moments(ticket) == []

    def test_phone_never_auto_replies_and_needs_an_integration(self, live: LiveServer) -> None:
        with live.client() as anonymous:
            denied = anonymous.post("/api/v1/inquiries", json={"channel": "phone", "text": GENERAL})
        assert denied.status_code == 401
        created = inquiry(live, GENERAL, channel="phone", token=live.token("integration"))
        assert created["status"] == "open"
        assert created["auto_reply"] is None
        assert created["triage"]["queue"] == "after_sales"


class TestClosedLoop:
    def test_reply_resolve_confirm_closes_with_rating(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        ticket_id, customer = created["ticket_id"], created["customer_token"]
        with live.client(live.token("agent")) as agent, live.client(customer) as me:
            assert agent.post(f"/api/v1/tickets/{ticket_id}/claim").json()["assignee_id"] is not None
            reply = agent.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "您好，已为您查询，今天内到账。"})
            assert reply.status_code == 201
            assert agent.get(f"/api/v1/tickets/{ticket_id}").json()["status"] == "pending_customer"
            assert me.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "还是没到啊"}).status_code == 201
            assert me.get(f"/api/v1/tickets/{ticket_id}").json()["status"] == "open"
            assert (
                agent.post(f"/api/v1/tickets/{ticket_id}/resolve", json={"note": "已加急"}).json()["status"]
                == "resolved"
            )
            closed = me.post(
                f"/api/v1/tickets/{ticket_id}/confirm", json={"resolved": True, "rating": 4, "comment": "快"}
            )
            assert closed.status_code == 200
            assert closed.json()["status"] == "closed"
            body = agent.get(f"/api/v1/tickets/{ticket_id}").json()  # the full audit trail is the team's
        assert body["status"] == "closed"
        assert body["close_reason"] == "confirmed"
        assert (body["rating"], body["rating_comment"]) == (4, "快")
        assert body["sla"]["first_response"]["state"] == "met"
        assert body["sla"]["resolution"]["state"] == "met"
        assert sla_moments(body) == [
            ("sla.started", "first_response"),
            ("sla.started", "resolution"),
            ("sla.paused", "resolution"),  # agent replied: waiting for the customer
            ("sla.met", "first_response"),
            ("sla.resumed", "resolution"),  # customer wrote back
            ("sla.started", "next_response"),
            ("sla.paused", "resolution"),  # resolved: waiting for confirmation
            ("sla.met", "resolution"),  # confirmed
        ]
        assert event_types(body) == [
            "ticket.created",
            "ticket.triaged",
            "ticket.queued",
            "ticket.assigned",
            "ticket.replied",
            "ticket.first_response",
            "ticket.customer_replied",
            "ticket.resolved",
            "ticket.closed",
        ]
        statuses = [(e["from_status"], e["to_status"]) for e in body["events"] if e["from_status"]]
        assert statuses == [
            ("open", "open"),
            ("open", "pending_customer"),
            ("pending_customer", "open"),
            ("open", "resolved"),
            ("resolved", "closed"),
        ]

    def test_not_solved_reopens_and_counts(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        ticket_id = created["ticket_id"]
        with live.client(live.token("agent")) as agent, live.client(created["customer_token"]) as me:
            agent.post(f"/api/v1/tickets/{ticket_id}/resolve")
            me.post(f"/api/v1/tickets/{ticket_id}/confirm", json={"resolved": False, "comment": "没收到"})
            reopened = agent.get(f"/api/v1/tickets/{ticket_id}")
        assert reopened.json()["status"] == "open"
        assert reopened.json()["reopen_count"] == 1
        assert event_types(reopened.json())[-1] == "ticket.reopened"
        assert sla_moments(reopened.json())[-1] == ("sla.resumed", "resolution")
        assert reopened.json()["sla"]["first_response"]["state"] == "running"  # a reopen does not restart it

    def test_rejected_auto_reply_is_handed_to_the_human_queue(self, live: LiveServer) -> None:
        created = inquiry(live, GENERAL)
        with live.client(created["customer_token"]) as me:
            ticket = me.post(f"/api/v1/tickets/{created['ticket_id']}/confirm", json={"resolved": False}).json()
        assert ticket["status"] == "open"
        assert ticket["triage"]["queue"] == "after_sales"
        assert ticket["sla"]["first_response"]["state"] == "running"
        assert [m["kind"] for m in ticket["messages"]] == ["text", "auto_reply"]
        assert "ticket.handed_over" in event_types(ticket)
        with live.client(live.token("agent")) as agent:
            queue = agent.get("/api/v1/tickets", params={"queue": "after_sales", "status": "open"}).json()
        assert created["ticket_id"] in [t["id"] for t in queue["items"]]

    def test_accepted_auto_reply_closes(self, live: LiveServer) -> None:
        created = inquiry(live, GENERAL)
        with live.client(created["customer_token"]) as me:
            ticket = me.post(
                f"/api/v1/tickets/{created['ticket_id']}/confirm", json={"resolved": True, "rating": 5}
            ).json()
        assert (ticket["status"], ticket["rating"], ticket["close_reason"]) == ("closed", 5, "confirmed")

    def test_thanks_does_not_reopen_a_resolved_ticket(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        ticket_id = created["ticket_id"]
        with live.client(live.token("agent")) as agent, live.client(created["customer_token"]) as me:
            agent.post(f"/api/v1/tickets/{ticket_id}/resolve")
            me.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "好的，谢谢！"})
            assert me.get(f"/api/v1/tickets/{ticket_id}").json()["status"] == "resolved"
            me.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "等等，钱还是没到"})
            ticket = me.get(f"/api/v1/tickets/{ticket_id}").json()
        assert (ticket["status"], ticket["reopen_count"]) == ("open", 1)

    def test_closed_ticket_refuses_actions_naming_the_status(self, live: LiveServer) -> None:
        created = inquiry(live, GENERAL)
        ticket_id = created["ticket_id"]
        with live.client(created["customer_token"]) as me, live.client(live.token("agent")) as agent:
            me.post(f"/api/v1/tickets/{ticket_id}/confirm", json={"resolved": True})
            for response in (
                me.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "再问一下"}),
                agent.post(f"/api/v1/tickets/{ticket_id}/claim"),
                agent.post(f"/api/v1/tickets/{ticket_id}/resolve"),
                me.post(f"/api/v1/tickets/{ticket_id}/confirm", json={"resolved": False}),
            ):
                assert response.status_code == 409
                assert "closed" in response.json()["error"]["message"]


class TestCustomerView:
    def test_customer_sees_the_conversation_not_the_teams_internals(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        ticket_id = created["ticket_id"]
        with live.client(live.token("agent")) as agent, live.client(created["customer_token"]) as me:
            agent.post(f"/api/v1/tickets/{ticket_id}/escalate", json={"reason": "内部备注：疑似恶意投诉"})
            agent.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "您好，正在为您处理"})
            mine = me.get(f"/api/v1/tickets/{ticket_id}").json()
            theirs = agent.get(f"/api/v1/tickets/{ticket_id}").json()
        assert "内部备注" in str(theirs["events"])
        assert "内部备注" not in str(mine)
        assert [m["body"] for m in mine["messages"]] == [OWN_CASE, "您好，正在为您处理"]
        assert not [e for e in mine["events"] if e["type"].startswith("sla.") or e["details"]]
        assert mine["assignee_id"] is None
        assert mine["triage"]["explanation"] == []
        assert theirs["assignee_id"] is not None
        assert theirs["triage"]["explanation"]

    def test_a_closed_ticket_can_be_rated_later_once(self, live: LiveServer) -> None:
        created = inquiry(live, GENERAL)
        url = f"/api/v1/tickets/{created['ticket_id']}/confirm"
        with live.client(created["customer_token"]) as me:
            assert me.post(url, json={"resolved": True}).json()["rating"] is None
            assert me.post(url, json={"resolved": True, "rating": 5, "comment": "很快"}).json()["rating"] == 5
            again = me.post(url, json={"resolved": True, "rating": 1})
        assert again.status_code == 409


class TestPhone:
    def test_call_answered_is_the_first_response(self, live: LiveServer) -> None:
        integration = live.token("integration")
        created = inquiry(live, "喂 我那个手机屏幕摔坏了 能修吗", channel="phone", token=integration)
        with live.client(integration) as call_centre:
            answered = call_centre.post(
                f"/api/v1/tickets/{created['ticket_id']}/messages",
                json={"body": "坐席 1002 接起", "kind": "call_answered"},
            )
            assert answered.status_code == 201
        with live.client(live.token("agent")) as agent:
            ticket = agent.get(f"/api/v1/tickets/{created['ticket_id']}").json()
        assert ticket["first_response_at"] is not None
        assert ticket["sla"]["first_response"]["target_seconds"] == 15
        assert "ticket.first_response" in event_types(ticket)


class TestEscalateAndReroute:
    def test_escalation_climbs_to_management_then_stops(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        url = f"/api/v1/tickets/{created['ticket_id']}/escalate"
        with live.client(live.token("supervisor")) as supervisor:
            levels = [supervisor.post(url, json={"reason": f"第{i}次催促"}).json()["escalation_level"] for i in (1, 2)]
            too_far = supervisor.post(url, json={"reason": "再升级"})
        assert levels == [1, 2]
        assert too_far.status_code == 409

    def test_reroute_is_kept_as_training_data(self, live: LiveServer) -> None:
        created = inquiry(live, OWN_CASE)
        with live.client(live.token("agent")) as agent:
            ticket = agent.post(f"/api/v1/tickets/{created['ticket_id']}/reroute", json={"intent": "complaint"}).json()
            corrections = agent.get("/api/v1/corrections").json()
            unknown = agent.post(f"/api/v1/tickets/{created['ticket_id']}/reroute", json={"queue": "nowhere"})
        assert (ticket["triage"]["intent"], ticket["triage"]["queue"]) == ("complaint", "complaints")
        assert corrections == [
            {
                "text": OWN_CASE,
                "label": "complaint",
                "predicted": "refund",
                "queue": "complaints",
                "ticket_id": created["ticket_id"],
                "created_at": corrections[0]["created_at"],
            }
        ]
        assert unknown.status_code == 422
        assert unknown.json()["error"]["field"] == "queue"


class TestListing:
    def test_filters_and_cursor_pagination(self, live: LiveServer) -> None:
        ids = [inquiry(live, f"{OWN_CASE} 第{i}单")["ticket_id"] for i in range(5)]
        inquiry(live, GENERAL)
        seen: list[int] = []
        cursor = None
        with live.client(live.token("agent")) as agent:
            while True:
                params: dict[str, Any] = {"status": "open", "limit": 2}
                if cursor:
                    params["cursor"] = cursor
                page = agent.get("/api/v1/tickets", params=params).json()
                seen += [t["id"] for t in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))


def test_healthz_and_openapi(live: LiveServer) -> None:
    with httpx.Client(base_url=live.base_url) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/inquiries" in paths
    assert "/api/v1/tickets/{ticket_id}/confirm" in paths
