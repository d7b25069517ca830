"""The supervisors' dashboard (/dashboard) in a real browser against a real server.

Each test drives Debian's chromium through Playwright at a 1366x768 laptop size, seeds tickets
through the public API as the widget, the call-centre integration and an agent would, and checks
what a supervisor sees against the API's own answers. Screenshots of the main steps go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from tests.tickets.conftest import LiveServer

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}
XSS_IMG = '<img src=x onerror="window.__pwned=1">'
XSS_SCRIPT = "<script>window.__pwned=1</script>"
COMPLAINT = "投诉：快递员态度恶劣，包裹被摔坏了"
REFUND = "我的退款申请了5天了还没到账，订单号2024112233，麻烦帮我查一下"
FAQ_QUESTIONS = ("怎么修改收货地址", "发票怎么开")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page at laptop size; a JavaScript error, a CSP violation or a failed request fails the test."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Failed requests are judged by on_response, which knows their status and address.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text}")

    def on_response(response: Response) -> None:
        # Refused tokens (401/403) are what the login test is about; the page has no favicon.
        if response.status >= 400 and response.status not in (401, 403) and not response.url.endswith("/favicon.ico"):
            errors.append(f"HTTP {response.status} {response.url}")

    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", on_console)
    page.on("response", on_response)
    yield page
    context.close()
    assert not errors, errors


def inquiry(web: LiveServer, channel: str, text: str, token: str | None = None) -> dict[str, Any]:
    with web.client(token) as client:
        response = client.post("/api/v1/inquiries", json={"channel": channel, "text": text})
    assert response.status_code == 201, response.text
    return dict(response.json())


def post(web: LiveServer, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with web.client(token) as client:
        response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def supervisor_get(web: LiveServer, path: str, **params: str) -> Any:
    with web.client(web.token("supervisor")) as client:
        response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def sla_report(web: LiveServer, start: str, group_by: str = "channel") -> list[dict[str, Any]]:
    return list(supervisor_get(web, "/api/v1/reports/sla", **{"from": start, "group_by": group_by})["groups"])


def log_in(page: Page, web: LiveServer, token: str) -> None:
    page.goto(f"{web.base_url}/dashboard")
    page.fill("#token-input", token)
    page.click("#login-button")


def open_dashboard(page: Page, web: LiveServer) -> None:
    log_in(page, web, web.token("supervisor"))
    expect(page.locator("#dashboard-view")).to_be_visible()
    expect(page.locator("#stream-status")).to_have_attribute("data-state", "live", timeout=10_000)


def report_today(web: LiveServer) -> dt.date:
    """Today in the report time zone, by the server's clock (as the page computes it)."""
    return web.clock().astimezone(web.app.state.settings.report_zone).date()


def fixed(value: float, digits: int) -> str:
    """JavaScript's Number.prototype.toFixed (halves round up)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{fixed(rate * 100, 1)}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{fixed(seconds, 1)} 秒"
    if seconds < 59.5:
        return f"{fixed(seconds, 0)} 秒"
    if seconds < 3600:
        minutes, rest = divmod(int(fixed(seconds, 0)), 60)
        return f"{minutes} 分 {rest} 秒" if rest else f"{minutes} 分钟"
    if seconds < 86400:
        return f"{fixed(seconds / 3600, 1)} 小时"
    return f"{fixed(seconds / 86400, 1)} 天"


def kpi_value(page: Page, key: str) -> Any:
    return page.locator(f'.kpi[data-kpi="{key}"] .kpi-value')


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    """Poll ``check()`` (an API read) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out waiting on the API"
        time.sleep(0.1)
    return result


# --------------------------------------------------------------------------- tests


def calls_on_earlier_days(web: LiveServer) -> None:
    """Calls on earlier days (the server's clock set back): picked up at once, or left until they breach."""
    integration = web.token("integration")
    now = dt.datetime.now(dt.UTC)
    for days_ago, picked_up in ((12, True), (5, True), (5, False), (2, False)):
        moment = now - dt.timedelta(days=days_ago)
        web.clock.freeze(moment)
        call = inquiry(web, "phone", f"来电：{days_ago}天前的订单还没发货", integration)
        path = f"/api/v1/tickets/{call['ticket_id']}"
        if picked_up:
            post(web, integration, f"{path}/messages", {"body": "已接通", "kind": "call_answered"})
        else:
            web.clock.freeze(moment + dt.timedelta(seconds=20))
            wait_for(lambda path=path: supervisor_get(web, path)["sla"]["first_response"]["state"] == "breached")
    web.clock.frozen = None


def test_supervisor_sees_figures_matching_the_reports(web: LiveServer, page: Page, screenshot: Any) -> None:
    integration, agent = web.token("integration"), web.token("agent")
    calls_on_earlier_days(web)
    # The widget: chat and web inquiries, anonymously; two of them FAQ questions answered automatically.
    refund = inquiry(web, "chat", REFUND)
    inquiry(web, "chat", "在吗？我想问一下会员积分怎么一直没到账")
    faq = [inquiry(web, "chat", FAQ_QUESTIONS[0]), inquiry(web, "web", FAQ_QUESTIONS[1])]
    inquiry(web, "web", COMPLAINT)
    # The call centre: two calls enter the queue; one is answered at once, one is left waiting.
    answered = inquiry(web, "phone", "来电：订单一直没收到，想查一下物流", integration)
    waiting = inquiry(web, "phone", "来电：要求退货退款", integration)
    post(
        web,
        integration,
        f"/api/v1/tickets/{answered['ticket_id']}/messages",
        {"body": "已接通", "kind": "call_answered"},
    )
    # An agent answers the refund chat and marks it solved; the customer says it is not, and it reopens.
    post(web, agent, f"/api/v1/tickets/{refund['ticket_id']}/messages", {"body": "您好，马上为您查询退款进度"})
    post(web, agent, f"/api/v1/tickets/{refund['ticket_id']}/resolve", {"note": "已催财务"})
    post(web, refund["customer_token"], f"/api/v1/tickets/{refund['ticket_id']}/confirm", {"resolved": False})
    # A customer accepts an automatic answer and rates it.
    accepted = next(f for f in faq if f["auto_reply"] is not None)
    post(
        web,
        accepted["customer_token"],
        f"/api/v1/tickets/{accepted['ticket_id']}/confirm",
        {"resolved": True, "rating": 4},
    )
    # Twenty seconds later by the server's clock, the waiting call has breached its 15 s target.
    web.clock.freeze(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20))
    wait_for(
        lambda: (
            supervisor_get(web, f"/api/v1/tickets/{waiting['ticket_id']}")["sla"]["first_response"]["state"]
            == "breached"
        )
    )

    page.goto(f"{web.base_url}/dashboard")
    expect(page.locator("#login-view")).to_be_visible()
    screenshot(page, "login")
    page.fill("#token-input", web.token("supervisor"))
    page.click("#login-button")
    expect(page.locator("#dashboard-view")).to_be_visible()

    today = report_today(web)
    week_from = (today - dt.timedelta(days=6)).isoformat()
    kpi = supervisor_get(web, "/api/v1/reports/kpi", **{"from": week_from})
    assert kpi["tickets"] == 7 + 3
    assert kpi["auto_reply_rate"]
    assert kpi["reopen_rate"]
    assert kpi["csat"]["ratings"] == 1
    rates = (
        "first_response_compliance",
        "auto_reply_rate",
        "auto_reply_acceptance",
        "resolution_rate",
        "confirmed_closure_rate",
        "reopen_rate",
        "complaint_rate",
    )
    for key in rates:
        expect(kpi_value(page, key)).to_have_text(pct(kpi[key]))
    expect(kpi_value(page, "median_first_response_seconds")).to_have_text(
        duration(kpi["median_first_response_seconds"])
    )
    expect(kpi_value(page, "csat")).to_have_text(f"{fixed(kpi['csat']['mean'], 2)} / 5")
    expect(kpi_value(page, "tickets")).to_have_text(str(kpi["tickets"]))

    # First-response compliance per channel, today and over the last 7 days.
    today_rows = {g["channel"]: g for g in sla_report(web, today.isoformat())}
    week_rows = {g["channel"]: g for g in sla_report(web, week_from)}
    assert today_rows["phone"]["met"] == 1
    assert today_rows["phone"]["breached"] == 1
    for channel, name in (("phone", "电话"), ("chat", "在线"), ("email", "邮件"), ("web", "网页")):
        row = page.locator(f'#channel-rows tr[data-channel="{channel}"]')
        expect(row.locator("th")).to_have_text(name)
        t, w = today_rows.get(channel, {}), week_rows.get(channel, {})
        expect(row.locator('[data-col="today-rate"] .rate-value')).to_have_text(pct(t.get("compliance_rate")))
        expect(row.locator('[data-col="today-counts"]')).to_have_text(
            f"{t.get('met', 0)} / {t.get('breached', 0)} / {t.get('running', 0)}"
        )
        expect(row.locator('[data-col="week-rate"] .rate-value')).to_have_text(pct(w.get("compliance_rate")))
        expect(row.locator('[data-col="week-median"]')).to_have_text(duration(w.get("median_first_response_seconds")))
    expect(page.locator('#channel-rows tr[data-channel="phone"] [data-col="today-rate"] .rate-value')).to_have_text(
        "50.0%"
    )

    # The trend: a point per day with a verdict over the last 14 days, the day's figures in its tooltip.
    trend = sla_report(web, (today - dt.timedelta(days=13)).isoformat(), "day")
    assert len(trend) == 4
    expect(page.locator("#trend-chart circle.rate-dot")).to_have_count(len(trend))
    expect(page.locator("#trend-chart circle.rate-dot title")).to_contain_text(
        [
            f"{day['day']}：达标率 {pct(day['compliance_rate'])}（达标 {day['met']} / 超时 {day['breached']}"
            for day in trend
        ]
    )

    # Queue sizes as GET /api/v1/queues counts them.
    for queue in supervisor_get(web, "/api/v1/queues"):
        row = page.locator(f'#queue-rows tr[data-queue="{queue["id"]}"]')
        expect(row.locator("th")).to_have_text(queue["name"])
        for key in ("open", "pending_customer", "at_risk", "breached"):
            expect(row.locator(f'[data-col="{key}"]')).to_have_text(str(queue[key]))

    # The breached call, overdue; every breached ticket listed; the complaint keywords of the KPI report.
    breached = page.locator(f'#breached-list li[data-ticket-id="{waiting["ticket_id"]}"]')
    expect(breached).to_contain_text("来电：要求退货退款")
    expect(breached.locator('[data-role="timer"]')).to_have_text(re.compile(r"^已超时 00:\d\d$"))
    breached_now = supervisor_get(web, "/api/v1/tickets", sla="breached")["items"]
    assert len(breached_now) == 5  # the calls left waiting, and the older calls' 48 h resolution clocks
    expect(page.locator("#breached-count")).to_have_text(str(len(breached_now)))
    expect(page.locator("#breached-list li.ticket")).to_have_count(len(breached_now))
    keywords = [k["keyword"] for k in kpi["top_complaint_keywords"]]
    assert keywords, kpi
    expect(page.locator("#keyword-list .kw-word")).to_have_text(keywords)
    screenshot(page, "dashboard")

    # Another period for the KPI tiles.
    page.click('[data-period="today"]')
    kpi_today = supervisor_get(web, "/api/v1/reports/kpi", **{"from": today.isoformat()})
    assert kpi_today["tickets"] == 7
    expect(kpi_value(page, "tickets")).to_have_text(str(kpi_today["tickets"]))
    expect(kpi_value(page, "first_response_compliance")).to_have_text(pct(kpi_today["first_response_compliance"]))
    expect(page.locator('.kpi[data-kpi="tickets"] .kpi-sub')).to_have_text(f"{today.isoformat()} 起创建")


def test_a_wrong_or_non_supervisor_token_is_refused(web: LiveServer, page: Page, screenshot: Any) -> None:
    log_in(page, web, "not-a-real-token")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("令牌无效")
    expect(page.locator("#dashboard-view")).to_be_hidden()
    screenshot(page, "wrong-token")

    for role in ("agent", "integration", "admin"):
        page.fill("#token-input", web.token(role))
        page.click("#login-button")
        expect(error).to_contain_text("没有主管权限")
        expect(page.locator("#dashboard-view")).to_be_hidden()
    screenshot(page, "agent-token")
    assert page.evaluate("Object.keys(sessionStorage).length") == 0

    # The right token opens the dashboard, survives a reload (sessionStorage) and logs out.
    page.fill("#token-input", web.token("supervisor"))
    page.click("#login-button")
    expect(page.locator("#dashboard-view")).to_be_visible()
    page.reload()
    expect(page.locator("#dashboard-view")).to_be_visible()
    page.click("#logout-button")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#dashboard-view")).to_be_hidden()
    assert page.evaluate("Object.keys(sessionStorage).length") == 0
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()


def test_a_breach_appears_live_and_the_countdown_ticks(web: LiveServer, page: Page, screenshot: Any) -> None:
    open_dashboard(page, web)
    expect(page.locator("#breached-list .empty-row")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    stream_requests: list[dict[str, str]] = []
    page.on("request", lambda r: stream_requests.append(r.headers) if "/events/stream" in r.url else None)

    # A call enters the queue while the page is open and nobody picks it up (15 s target, warning at 12 s).
    call = inquiry(web, "phone", "来电：快递显示签收但我没收到", web.token("integration"))
    ticket = str(call["ticket_id"])
    expect(page.locator(f'#feed-list li[data-ticket-id="{ticket}"][data-type="ticket.created"]')).to_be_visible()

    at_risk = page.locator(f'#risk-list li[data-ticket-id="{ticket}"]')
    expect(at_risk).to_be_visible(timeout=16_000)
    expect(at_risk.locator('[data-role="timer"]')).to_have_text(re.compile(r"^(剩余 00:0[0-4]|已超时 00:0\d)$"))
    screenshot(page, "at-risk")

    breached = page.locator(f'#breached-list li[data-ticket-id="{ticket}"]')
    expect(breached).to_be_visible(timeout=10_000)
    expect(breached).to_contain_text("来电：快递显示签收但我没收到")
    expect(breached).to_contain_text("电话")
    expect(breached).to_contain_text("首次响应")
    expect(at_risk).to_have_count(0)
    timer = breached.locator('[data-role="timer"]')
    expect(timer).to_have_text(re.compile(r"^已超时 00:0\d$"))
    first = timer.text_content()
    expect(timer).not_to_have_text(first or "", timeout=3_000)  # it ticks in the browser
    expect(page.locator("#breached-count")).to_have_text("1")
    expect(page.locator(f'#feed-list li[data-ticket-id="{ticket}"][data-type="sla.breached"]')).to_be_visible()
    queue = call["triage"]["queue"]
    expect(page.locator(f'#queue-rows tr[data-queue="{queue}"] [data-col="breached"]')).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert not stream_requests, "the stream was reconnected without a drop"
    screenshot(page, "breached")


def drop_streams(web: LiveServer) -> None:
    """End every open event stream from the server side, as a restart or a proxy timeout would."""
    hub = web.app.state.hub
    loop = hub._task.get_loop()
    for subscription in list(hub.subscribers):
        loop.call_soon_threadsafe(subscription.queue.put_nowait, None)


def test_the_stream_resumes_after_a_drop_with_last_event_id(web: LiveServer, page: Page) -> None:
    open_dashboard(page, web)
    first = inquiry(web, "chat", "请问退货运费谁出")
    expect(page.locator(f'#feed-list li[data-ticket-id="{first["ticket_id"]}"]')).to_be_visible()
    stream_requests: list[dict[str, str]] = []
    page.on("request", lambda r: stream_requests.append(r.headers) if "/events/stream" in r.url else None)

    # The connection drops and the browser stays offline for a moment: an inquiry arrives meanwhile.
    page.context.set_offline(True)
    drop_streams(web)
    expect(page.locator("#stream-status")).to_have_attribute("data-state", "reconnecting")
    missed = inquiry(web, "chat", "断线期间进来的咨询：订单能改地址吗")
    page.context.set_offline(False)

    # Back online, the page resumes where it left off and is replayed the missed event.
    expect(page.locator(f'#feed-list li[data-ticket-id="{missed["ticket_id"]}"]')).to_be_visible(timeout=10_000)
    expect(page.locator("#stream-status")).to_have_attribute("data-state", "live")
    resumed = [h for h in stream_requests if "last-event-id" in h]
    assert resumed, stream_requests
    assert int(resumed[-1]["last-event-id"]) > 0
    assert page.locator(f'#feed-list li[data-ticket-id="{first["ticket_id"]}"]').count() == 1, "replayed twice"


def test_ticket_text_is_shown_as_text_never_as_html(web: LiveServer, page: Page, screenshot: Any) -> None:
    text = f"催单 {XSS_IMG} {XSS_SCRIPT}"
    call = inquiry(web, "phone", text, web.token("integration"))
    chat = inquiry(web, "chat", f"投诉 {XSS_SCRIPT} 客服态度太差 {XSS_IMG}")
    # Forty seconds later by the server's clock, both are past their first-response targets.
    web.clock.freeze(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40))
    wait_for(lambda: len(supervisor_get(web, "/api/v1/tickets", sla="breached")["items"]) == 2)

    open_dashboard(page, web)
    item = page.locator(f'#breached-list li[data-ticket-id="{call["ticket_id"]}"] .ticket-subject')
    expect(item).to_have_text(text)
    expect(page.locator(f'#breached-list li[data-ticket-id="{chat["ticket_id"]}"] .ticket-subject')).to_contain_text(
        XSS_SCRIPT
    )
    # A new ticket with the same text reaches the live feed.
    live = inquiry(web, "phone", text, web.token("integration"))
    expect(page.locator(f'#feed-list li[data-ticket-id="{live["ticket_id"]}"] .feed-subject').first).to_have_text(text)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#dashboard-view img, #dashboard-view script").count() == 0
    screenshot(page, "html-as-text")
