"""The chat widget and the agent workspace in a real browser, against a real server with jobs running.

A customer context (the demo shop with the widget) and an agent context (/agent) talk to each other
through the API and the event stream, as they would in production. The server-side state is checked
through the API with a supervisor token, or in the database.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, expect
from sqlmodel import col, select

from tests.tickets.conftest import LiveServer, start_server
from tickets.auth import identity_signature
from tickets.db import session_scope
from tickets.models import Customer, Ticket
from triage import TriageModel

pytestmark = pytest.mark.browser

WIDGET = "星河数码 在线客服"
REFUND = "退款一般多久能到账？"
ORDER = "我的订单2024112233一直没发货，麻烦帮我查一下"
XSS = '<img src=x onerror="window.__pwned=1">'
COMING = "人工客服马上为您服务"
SECRET = "shop-widget-secret-0123456789"
DESKTOP = {"width": 1366, "height": 768}


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Any]:
    """``new(**options)`` opens a browser context that is closed after the test."""
    opened: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        settings = {"viewport": DESKTOP, "locale": "zh-CN", "timezone_id": "Asia/Shanghai", **options}
        context = browser.new_context(**settings)
        context.set_default_timeout(5000)
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


# ----------------------------------------------------------------------------- customer side


def open_widget(page: Page, url: str) -> FrameLocator:
    page.goto(url)
    bubble = page.get_by_role("button", name=f"打开{WIDGET}")
    bubble.click()
    frame = page.frame_locator(f"iframe[title='{WIDGET}']")
    expect(frame.get_by_label("输入消息")).to_be_focused()
    return frame


def ask(frame: FrameLocator, text: str) -> None:
    frame.get_by_label("输入消息").fill(text)
    frame.get_by_role("button", name="发送", exact=True).click()


def widget_frame(page: Page) -> Frame:
    found = page.frame(url=re.compile(r"/widget/frame"))
    assert found is not None
    return found


def widget_ticket_id(page: Page) -> int:
    """The ticket the widget keeps in its localStorage (the frame's origin)."""
    stored = widget_frame(page).evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('triage-widget:'))"
        ".map(k => JSON.parse(localStorage.getItem(k)))"
    )
    assert len(stored) == 1, stored
    return int(stored[0]["ticketId"])


def bubbles(frame: FrameLocator, side: str) -> Any:
    return frame.locator(f".tw-from-{side}:not(.tw-pending) .tw-bubble")


def rate(frame: FrameLocator, stars: int, label: str, comment: str) -> None:
    frame.get_by_role("button", name="解决了").click()
    frame.get_by_role("button", name=f"{stars} 星 {label}").click()
    frame.get_by_label("评价内容（选填）").fill(comment)
    frame.get_by_role("button", name="提交评价").click()
    expect(frame.get_by_text("本次会话已结束，感谢您的反馈！")).to_be_visible()


# ----------------------------------------------------------------------------- agent side


def agent_login(context: BrowserContext, web: LiveServer) -> Page:
    page = context.new_page()
    page.goto(f"{web.base_url}/agent")
    page.get_by_label("客服令牌").fill(web.token("agent"))
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#conn")).to_have_text("实时更新中")
    return page


def open_queue(page: Page, name: str) -> None:
    page.get_by_role("button", name=re.compile(f"^{name}：")).click()
    expect(page.locator("#list-title")).to_have_text(name)


def ticket_row(page: Page, ticket_id: int) -> Any:
    return page.locator(f".ag-row[data-ticket='{ticket_id}']")


def api_ticket(web: LiveServer, ticket_id: int) -> dict[str, Any]:
    with web.client(web.token("supervisor")) as client:
        response = client.get(f"/api/v1/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def agent_reply(web: LiveServer, ticket_id: int, body: str) -> None:
    with web.client(web.token("agent")) as client:
        assert client.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": body}).status_code == 201


def drop_streams(web: LiveServer) -> int:
    """End every open event stream server-side, as a dropped connection would; returns how many."""
    hub = web.app.state.hub
    loop = hub._task.get_loop()
    subscribers = list(hub.subscribers)
    for subscriber in subscribers:
        loop.call_soon_threadsafe(subscriber.queue.put_nowait, None)
    return len(subscribers)


# ----------------------------------------------------------------------------- tests


def test_faq_answer_confirmed_with_rating(web: LiveServer, model: TriageModel, contexts: Any, screenshot: Any) -> None:
    page = contexts().new_page()
    frame = open_widget(page, f"{web.base_url}/widget/demo")
    screenshot(page, "1-open")
    ask(frame, REFUND)
    answer = model.taxonomy.faqs["refund_timeline"].answer
    expect(bubbles(frame, "bot").last).to_have_text(answer)
    expect(frame.get_by_text("以上回答解决您的问题了吗？")).to_be_visible()
    expect(frame.get_by_role("button", name="没解决，转人工")).to_be_visible()
    screenshot(page, "2-faq-answer")
    rate(frame, 4, "满意", "回答很清楚")
    screenshot(page, "3-rated")

    ticket = api_ticket(web, widget_ticket_id(page))
    assert (ticket["status"], ticket["close_reason"]) == ("closed", "confirmed")
    assert (ticket["rating"], ticket["rating_comment"]) == (4, "回答很清楚")
    assert [(m["author_type"], m["kind"]) for m in ticket["messages"]] == [
        ("customer", "text"),
        ("system", "auto_reply"),
    ]
    expect(bubbles(frame, "me")).to_have_count(1)
    expect(bubbles(frame, "bot")).to_have_count(2)  # the welcome and the answer, each once

    # Writing again after the close opens a new conversation for the same customer.
    ask(frame, "怎么开发票？")
    expect(bubbles(frame, "bot").last).to_have_text(model.taxonomy.faqs["invoice_how"].answer)
    expect(bubbles(frame, "me")).to_have_text(["怎么开发票？"])
    second = api_ticket(web, widget_ticket_id(page))
    assert second["id"] != ticket["id"]
    assert second["status"] == "auto_replied"
    with session_scope(web.engine) as session:
        owners = {session.get(Ticket, t["id"]).customer_id for t in (ticket, second)}  # type: ignore[union-attr]
    assert len(owners) == 1


def test_agent_claims_replies_and_resolves_live(web: LiveServer, contexts: Any, screenshot: Any) -> None:
    agent = agent_login(contexts(), web)
    open_queue(agent, "售后服务")
    customer = contexts().new_page()
    frame = open_widget(customer, f"{web.base_url}/widget/demo")
    ask(frame, ORDER)
    expect(frame.locator("#ticketline")).to_contain_text(COMING)
    ticket_id = widget_ticket_id(customer)
    expect(frame.locator("#ticketline")).to_contain_text(f"工单号 #{ticket_id}")

    # The new ticket reaches the agent's list live, with its SLA countdown ticking.
    row = ticket_row(agent, ticket_id)
    expect(row).to_be_visible()
    expect(row).to_contain_text("2024112233")
    countdown = row.locator(".ag-sla")
    expect(countdown).to_contain_text(re.compile(r"首响 剩 0:\d\d"))
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before, timeout=3000)
    screenshot(agent, "1-new-ticket")

    row.click()
    expect(agent.locator("#t-title")).to_contain_text(f"#{ticket_id}")
    expect(agent.locator("#triage")).to_contain_text("订单查询（order_status）")
    expect(agent.locator("#triage")).to_contain_text("售后服务")
    expect(agent.locator("#terms .ag-term").first).to_be_visible()
    expect(agent.locator("#terms")).to_contain_text("发货")
    agent.get_by_role("button", name="认领", exact=True).click()
    expect(agent.locator("#t-meta")).to_contain_text("处理人：我")
    expect(row).to_contain_text("我处理中")

    # An FAQ answer goes into the reply box with one click; the agent then writes their own.
    agent.get_by_role("button", name="插入答案：在哪里查看我的订单？").click()
    expect(agent.get_by_label("回复内容")).to_have_value(re.compile("我的订单"))
    reply = "您好，已为您查询：订单2024112233今天下午从仓库发出，预计后天送达。"
    agent.get_by_label("回复内容").fill(reply)
    screenshot(agent, "2-claimed")
    agent.get_by_role("button", name="发送回复").click()
    sent = time.monotonic()
    expect(bubbles(frame, "agent").filter(has_text=reply)).to_be_visible(timeout=1000)
    assert time.monotonic() - sent < 1.0
    screenshot(customer, "3-agent-reply")

    ask(frame, "好的，谢谢！那我等快递")
    expect(agent.locator(".ag-msg-customer").last).to_contain_text("那我等快递")

    agent.get_by_role("button", name="标记已解决").click()
    expect(frame.get_by_text("问题解决了吗？")).to_be_visible()
    screenshot(customer, "4-asked-to-confirm")
    rate(frame, 5, "非常满意", "客服回复很快")
    screenshot(customer, "5-closed")
    expect(agent.locator("#t-meta")).to_contain_text("评分 5 星")
    screenshot(agent, "6-closed")

    ticket = api_ticket(web, ticket_id)
    assert (ticket["status"], ticket["close_reason"], ticket["rating"]) == ("closed", "confirmed", 5)
    assert ticket["rating_comment"] == "客服回复很快"
    assert ticket["first_response_at"] is not None
    expect(bubbles(frame, "agent")).to_have_count(1)
    expect(bubbles(frame, "me")).to_have_count(2)


def test_reload_new_tab_and_dropped_stream_keep_the_conversation(
    web: LiveServer, contexts: Any, screenshot: Any
) -> None:
    context = contexts()
    page = context.new_page()
    frame = open_widget(page, f"{web.base_url}/widget/demo")
    ask(frame, ORDER)
    expect(frame.locator("#ticketline")).to_contain_text(COMING)
    ticket_id = widget_ticket_id(page)
    agent_reply(web, ticket_id, "您好，正在为您查询物流信息。")
    expect(bubbles(frame, "agent")).to_have_text(["您好，正在为您查询物流信息。"])

    page.reload()
    frame = page.frame_locator(f"iframe[title='{WIDGET}']")  # the panel reopens as it was
    expect(bubbles(frame, "me")).to_have_text([ORDER])
    expect(bubbles(frame, "agent")).to_have_text(["您好，正在为您查询物流信息。"])
    expect(frame.locator("#ticketline")).to_contain_text(f"工单号 #{ticket_id}")
    screenshot(page, "1-reloaded")

    second = context.new_page()
    other = open_widget(second, f"{web.base_url}/widget/demo")
    expect(bubbles(other, "agent")).to_have_text(["您好，正在为您查询物流信息。"])

    # A dropped stream reconnects with Last-Event-ID: what was said meanwhile arrives exactly once.
    deadline = time.monotonic() + 5
    while len(web.app.state.hub.subscribers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drop_streams(web) >= 2
    agent_reply(web, ticket_id, "查到了：包裹已到达本市分拨中心。")
    expected = ["您好，正在为您查询物流信息。", "查到了：包裹已到达本市分拨中心。"]
    expect(bubbles(frame, "agent")).to_have_text(expected)
    expect(bubbles(other, "agent")).to_have_text(expected)
    agent_reply(web, ticket_id, "明天上午送达。")
    expected.append("明天上午送达。")
    expect(bubbles(frame, "agent")).to_have_text(expected)
    expect(bubbles(other, "agent")).to_have_text(expected)
    page.wait_for_timeout(500)  # any late duplicate would have arrived by now
    expect(bubbles(frame, "agent")).to_have_count(3)
    expect(bubbles(other, "agent")).to_have_count(3)
    expect(bubbles(frame, "me")).to_have_count(1)
    screenshot(second, "2-after-reconnect")

    # With the panel closed, a new reply shows as an unread count on the chat button.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name=WIDGET)).to_be_hidden()
    agent_reply(web, ticket_id, "快递员电话：138 0000 0000。")
    expect(page.get_by_role("button", name=f"打开{WIDGET}（1 条新消息）")).to_be_visible()
    screenshot(page, "3-unread-badge")
    page.get_by_role("button", name=f"打开{WIDGET}（1 条新消息）").click()
    expect(bubbles(frame, "agent").last).to_have_text("快递员电话：138 0000 0000。")
    expect(page.get_by_role("button", name=f"关闭{WIDGET}")).to_be_visible()


def test_markup_is_shown_as_text_on_both_sides(web: LiveServer, contexts: Any, screenshot: Any) -> None:
    customer = contexts().new_page()
    frame = open_widget(customer, f"{web.base_url}/widget/demo")
    ask(frame, XSS)
    expect(bubbles(frame, "me")).to_have_text([XSS])
    ticket_id = widget_ticket_id(customer)
    queue = api_ticket(web, ticket_id)["triage"]["queue"]

    agent = agent_login(contexts(), web)
    with web.client(web.token("agent")) as client:
        names = {q["id"]: q["name"] for q in client.get("/api/v1/queues").json()}
    open_queue(agent, names[queue])
    row = ticket_row(agent, ticket_id)
    expect(row.locator(".ag-subject")).to_have_text(XSS)
    row.click()
    expect(agent.locator(".ag-msg-customer .ag-msg-body")).to_have_text([XSS])
    agent.get_by_label("回复内容").fill(f"您发送的内容是：{XSS}")
    agent.get_by_role("button", name="发送回复").click()
    expect(bubbles(frame, "agent")).to_have_text([f"您发送的内容是：{XSS}"])
    expect(agent.locator(".ag-msg-agent .ag-msg-body")).to_have_text([f"您发送的内容是：{XSS}"])
    screenshot(customer, "1-customer")
    screenshot(agent, "2-agent")

    for page in (customer, agent):
        assert page.locator("img").count() == 0
        assert page.evaluate("() => window.__pwned") is None
    assert widget_frame(customer).evaluate("() => [window.__pwned, document.querySelectorAll('img').length]") == [
        None,
        0,
    ]


@contextlib.contextmanager
def host_site(pages: dict[str, str]) -> Iterator[str]:
    """Another web site (its own origin on loopback) serving ``pages`` by path; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


HOST_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>另一家网店</title></head>
<body><h1>另一家网店（其他域名）</h1>
<script src="{base}/widget.js" data-title="{title}" data-customer-id="{cid}" data-customer-signature="{sig}" async>
</script></body></html>"""


def test_signed_identity_links_the_customer(tmp_path: Path, model: TriageModel, contexts: Any, screenshot: Any) -> None:
    server = start_server(f"sqlite:///{tmp_path}/signed.db", model, run_jobs=True, widget_secret=SECRET)
    try:
        # The widget is embedded by a shop on another origin, which signs its logged-in customer's id.
        shops = {
            "good": ("shop-user-42", identity_signature(SECRET, "shop-user-42")),
            "again": ("shop-user-42", identity_signature(SECRET, "shop-user-42")),
            "forged": ("shop-user-43", identity_signature("not-the-shop-secret-000", "shop-user-43")),
        }
        pages = {
            f"/{name}": HOST_PAGE.format(base=server.base_url, title=WIDGET, cid=cid, sig=sig)
            for name, (cid, sig) in shops.items()
        }
        tickets: dict[str, int] = {}
        with host_site(pages) as shop:
            for name in shops:
                page = contexts().new_page()
                frame = open_widget(page, f"{shop}/{name}")
                ask(frame, ORDER)
                expect(frame.locator("#ticketline")).to_contain_text(COMING)
                tickets[name] = widget_ticket_id(page)
                if name == "good":
                    screenshot(page, "1-embedded-on-another-origin")

        with session_scope(server.engine) as session:
            owners = {
                name: session.exec(
                    select(Customer)
                    .join(Ticket, col(Ticket.customer_id) == col(Customer.id))
                    .where(col(Ticket.id) == ticket_id)
                ).one()
                for name, ticket_id in tickets.items()
            }
            linked = {name: (c.id, c.external_id) for name, c in owners.items()}
        assert linked["good"][1] == "shop-user-42"
        assert linked["again"] == linked["good"]  # the same customer, from a second browser
        assert linked["forged"][1] is None  # a bad signature is anonymous
        assert linked["forged"][0] != linked["good"][0]
    finally:
        server.stop()


def test_keyboard_and_phone_layout(web: LiveServer, contexts: Any, screenshot: Any) -> None:
    page = contexts().new_page()
    page.goto(f"{web.base_url}/widget/demo")
    bubble = page.get_by_role("button", name=f"打开{WIDGET}")
    bubble.focus()
    page.keyboard.press("Enter")
    frame = page.frame_locator(f"iframe[title='{WIDGET}']")
    expect(frame.get_by_label("输入消息")).to_be_focused()
    expect(page.get_by_role("dialog", name=WIDGET)).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name=WIDGET)).to_be_hidden()
    expect(bubble).to_be_focused()
    expect(bubble).to_have_attribute("aria-expanded", "false")

    phone = contexts(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True).new_page()
    frame = open_widget(phone, f"{web.base_url}/widget/demo")
    box = phone.get_by_role("dialog", name=WIDGET).bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 667)
    ask(frame, REFUND)
    frame.get_by_role("button", name="没解决，转人工").click()
    expect(frame.locator(".tw-notice")).to_have_text([re.compile(f"已为您转接人工客服，工单号 #\\d+，{COMING}")])
    expect(frame.locator("#ticketline")).to_contain_text(COMING)
    expect(frame.locator("#ticketline")).to_contain_text("工单号 #")
    screenshot(phone, "1-phone-handed-over")
    frame.get_by_role("button", name="关闭客服窗口").click()
    expect(phone.get_by_role("dialog", name=WIDGET)).to_be_hidden()
    assert api_ticket(web, widget_ticket_id(phone))["status"] == "open"
