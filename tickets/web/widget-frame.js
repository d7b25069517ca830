/* The chat inside the widget iframe (same origin as the API).
 *
 * A question becomes an inquiry (POST /api/v1/inquiries, channel chat); the customer token and the
 * ticket id are kept in localStorage, so a reload or a second tab continues the same conversation.
 * Live updates come from GET /api/v1/events/stream, read with fetch() (EventSource cannot send the
 * Authorization header) and parsed here; after a drop the stream is reopened with Last-Event-ID and
 * messages are de-duplicated by id, so nothing is lost or shown twice.
 * Everything a person wrote is put on the page with textContent, never as HTML. */
(function () {
  "use strict";

  var query = new URLSearchParams(location.search);
  var title = (query.get("title") || "在线客服").slice(0, 60);
  var customerId = query.get("cid") || "";
  var signature = query.get("sig") || "";
  var API = new URL("../api/v1/", location.href).href;
  var KEY = "triage-widget:v1:" + (customerId ? "id:" + customerId : "anonymous");
  var embedded = window.parent !== window;

  var $ = function (id) { return document.getElementById(id); };
  var log = $("log");
  var actions = $("actions");
  var input = $("input");
  var form = $("compose");
  var sendButton = $("send");
  var ticketLine = $("ticketline");
  var errorLine = $("error");
  var connLine = $("conn");

  var state = { token: null, ticketId: null, status: null, rating: null, lastEventId: null, hasAgent: false };
  var rating = { open: false, value: 0 };
  var seenMessages = new Set();
  var seenNotices = new Set();
  var panelOpen = !embedded;
  var unread = 0;
  var busy = false;

  var STATUS_TEXT = {
    open: "人工客服马上为您服务",
    pending_customer: "客服已回复，请查看",
    resolved: "客服已处理完毕，待您确认",
    closed: "已结束"
  };
  var STARS = ["非常不满意", "不满意", "一般", "满意", "非常满意"];

  // ------------------------------------------------------------------ helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(text, className, onClick) {
    var node = el("button", className, text);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function clock(iso) {
    var date = iso ? new Date(iso) : new Date();
    if (isNaN(date.getTime())) date = new Date();
    return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0");
  }

  function toParent(message) {
    // Nothing secret goes to the host page: only "close" and the unread count.
    if (embedded) window.parent.postMessage(message, "*");
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { errorLine.hidden = true; }, 8000);
  }

  function errorText(result, fallback) {
    if (result && result.status === 429) {
      var wait = result.headers && result.headers.get("Retry-After");
      return "发送太频繁了，请" + (wait ? " " + wait + " 秒" : "稍等片刻") + "后再试。";
    }
    if (result && result.status === 413) return "内容太长了，请精简后再发送。";
    if (result && result.status === 422) return "消息格式不正确：" + ((result.data && result.data.error && result.data.error.message) || "请检查后重试");
    return fallback || "网络不太稳定，请稍后重试。";
  }

  async function api(method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var auth = token === undefined ? state.token : token;
    if (auth) headers.Authorization = "Bearer " + auth;
    var response = await fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store"
    });
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data: data, headers: response.headers };
  }

  // ------------------------------------------------------------------ storage

  function save() {
    try {
      localStorage.setItem(KEY, JSON.stringify({ token: state.token, ticketId: state.ticketId }));
    } catch (e) { /* private mode: the conversation lasts as long as the page */ }
  }

  function saved() {
    try {
      var value = JSON.parse(localStorage.getItem(KEY) || "null");
      if (value && typeof value.token === "string" && typeof value.ticketId === "number") return value;
    } catch (e) { /* ignore a damaged entry */ }
    return null;
  }

  // ------------------------------------------------------------------ conversation log

  var WHO = { customer: "我", agent: "人工客服", integration: "人工客服" };

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function bubble(author, kind, body, at) {
    var side = author === "customer" ? "tw-from-me" : author === "agent" || author === "integration" ? "tw-from-agent" : "tw-from-bot";
    var node = el("div", "tw-msg " + side);
    var who = WHO[author] || (kind === "auto_reply" ? "智能助手" : "系统消息");
    var head = el("div", "tw-who", who);
    head.appendChild(el("span", "tw-time", clock(at)));
    node.appendChild(head);
    node.appendChild(el("div", "tw-bubble", body));
    return node;
  }

  function addMessage(message, at) {
    if (!message || message.kind === "note" || seenMessages.has(message.id)) return false;
    seenMessages.add(message.id);
    var node = bubble(message.author_type, message.kind, message.body, message.created_at || at);
    node.dataset.id = String(message.id);
    // Keep id order; unconfirmed (sending) items stay last.
    var before = null;
    var children = log.children;
    for (var i = 0; i < children.length; i++) {
      var child = children[i];
      if ((child.dataset.id && Number(child.dataset.id) > message.id) || child.classList.contains("tw-pending")) {
        before = child;
        break;
      }
    }
    log.insertBefore(node, before);
    if (message.author_type === "customer") {
      // The stream can bring our own message back before its POST has answered.
      var echo = Array.prototype.find.call(log.querySelectorAll(".tw-pending.tw-from-me"), function (item) {
        return item.querySelector(".tw-bubble").textContent === message.body;
      });
      if (echo) echo.remove();
    }
    if (message.author_type === "agent") state.hasAgent = true;
    scrollDown();
    return true;
  }

  function addPending(author, kind, body) {
    var node = bubble(author, kind, body);
    node.classList.add("tw-pending");
    if (author === "customer") node.querySelector(".tw-time").textContent = "发送中…";
    log.appendChild(node);
    scrollDown();
    return node;
  }

  function dropPending() {
    log.querySelectorAll(".tw-pending").forEach(function (node) { node.remove(); });
  }

  function notice(key, text) {
    if (key !== null) {
      if (seenNotices.has(key)) return;
      seenNotices.add(key);
    }
    log.appendChild(el("div", "tw-notice", text));
    scrollDown();
  }

  function handoverText(id) { return "已为您转接人工客服，工单号 #" + id + "，人工客服马上为您服务。"; }

  function clearLog() {
    Array.prototype.slice.call(log.children).forEach(function (node) {
      if (!node.classList.contains("tw-welcome")) node.remove();
    });
    seenMessages.clear();
    seenNotices.clear();
  }

  function bumpUnread() {
    if (panelOpen && !document.hidden) return;
    unread += 1;
    toParent({ type: "triage:unread", count: unread });
  }

  // ------------------------------------------------------------------ status and the action area

  function setStatus(status) {
    if (status !== "resolved" && status !== "auto_replied") rating.open = false;
    state.status = status;
    render();
  }

  function render() {
    var id = state.ticketId;
    if (id && STATUS_TEXT[state.status]) {
      var text = state.status === "open" && state.hasAgent ? "人工客服处理中" : STATUS_TEXT[state.status];
      ticketLine.textContent = "工单号 #" + id + " · " + text;
      ticketLine.hidden = false;
    } else {
      ticketLine.hidden = true;
    }
    input.placeholder = state.status === "closed"
      ? "有新的问题？直接输入，我们为您开启新的咨询"
      : "请输入您的问题（Enter 发送，Shift+Enter 换行）";
    // Rebuild the action card only when it changes (keeps a half-written rating comment).
    var mode = rating.open ? "rating" : state.status + ":" + state.rating;
    if (actions.dataset.mode === mode) return;
    actions.dataset.mode = mode;
    actions.replaceChildren();
    if (rating.open) {
      actions.appendChild(ratingCard());
    } else if (state.status === "auto_replied") {
      actions.appendChild(choiceCard("以上回答解决您的问题了吗？", "没解决，转人工"));
    } else if (state.status === "resolved") {
      actions.appendChild(choiceCard("问题解决了吗？", "没解决"));
    } else if (state.status === "closed") {
      var card = el("div", "tw-card tw-done");
      card.appendChild(el("p", "tw-card-title", "本次会话已结束，感谢您的反馈！"));
      if (state.rating) {
        card.appendChild(el("p", "tw-given", "您的评分：" + "★★★★★".slice(0, state.rating) + "☆☆☆☆☆".slice(state.rating)));
      }
      card.appendChild(el("p", "tw-hint", "如有新的问题，直接在下方输入即可。"));
      actions.appendChild(card);
    }
    scrollDown(); // the card takes room from the log: keep the newest message in view
  }

  function choiceCard(question, noText) {
    var card = el("div", "tw-card");
    card.appendChild(el("p", "tw-card-title", question));
    var row = el("div", "tw-row");
    row.appendChild(button("解决了", "tw-btn tw-primary", function () {
      rating.open = true;
      rating.value = 0;
      render();
      var first = actions.querySelector(".tw-star");
      if (first) first.focus();
    }));
    row.appendChild(button(noText, "tw-btn", function () { confirm(false); }));
    card.appendChild(row);
    return card;
  }

  function ratingCard() {
    var card = el("div", "tw-card");
    card.appendChild(el("p", "tw-card-title", "请为本次服务评分"));
    var stars = el("div", "tw-stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", "评分，1 到 5 星");
    var caption = el("p", "tw-hint", rating.value ? STARS[rating.value - 1] : "点击星星评分");
    var submit = button("提交评价", "tw-btn tw-primary", function () {
      if (!rating.value) return;
      confirm(true, rating.value, comment.value.trim() || null);
    });
    submit.disabled = !rating.value;
    [1, 2, 3, 4, 5].forEach(function (n) {
      var star = button("★", "tw-star" + (n <= rating.value ? " tw-on" : ""), function () {
        rating.value = n;
        stars.querySelectorAll(".tw-star").forEach(function (s, i) {
          s.classList.toggle("tw-on", i < n);
          s.setAttribute("aria-pressed", String(i + 1 === n));
        });
        caption.textContent = STARS[n - 1];
        submit.disabled = false;
      });
      star.setAttribute("aria-label", n + " 星 " + STARS[n - 1]);
      star.setAttribute("aria-pressed", String(n === rating.value));
      stars.appendChild(star);
    });
    card.appendChild(stars);
    card.appendChild(caption);
    var label = el("label", "tw-sr", "评价内容（选填）");
    label.htmlFor = "tw-comment";
    var comment = el("textarea", "tw-comment");
    comment.id = "tw-comment";
    comment.rows = 2;
    comment.maxLength = 2000;
    comment.placeholder = "说说您的感受（选填）";
    card.appendChild(label);
    card.appendChild(comment);
    var row = el("div", "tw-row");
    row.appendChild(submit);
    row.appendChild(button("不评价，直接结束", "tw-btn tw-link", function () { confirm(true, null, null); }));
    card.appendChild(row);
    return card;
  }

  async function confirm(resolved, stars, comment) {
    if (busy || !state.ticketId) return;
    busy = true;
    var body = { resolved: resolved };
    if (stars) body.rating = stars;
    if (comment) body.comment = comment;
    try {
      var result = await api("POST", "tickets/" + state.ticketId + "/confirm", body);
      if (result.ok) {
        var wasAutoReplied = state.status === "auto_replied";
        state.rating = result.data.rating;
        rating.open = false;
        setStatus(result.data.status);
        if (!resolved && wasAutoReplied) notice("handover", handoverText(state.ticketId));
      } else if (result.status === 409) {
        await loadTicket();
        showError("工单状态已变化，已为您刷新。");
      } else {
        showError(errorText(result, "提交失败，请稍后重试。"));
      }
    } catch (e) {
      showError(errorText(null));
    } finally {
      busy = false;
    }
  }

  // ------------------------------------------------------------------ loading and sending

  function forget() {
    stopStream();
    state = { token: null, ticketId: null, status: null, rating: null, lastEventId: null, hasAgent: false };
    rating.open = false;
    try { localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    clearLog();
    render();
  }

  async function loadTicket() {
    var result = await api("GET", "tickets/" + state.ticketId);
    if (result.status === 401 || result.status === 404) {
      forget();
      return false;
    }
    if (!result.ok) throw new Error("HTTP " + result.status);
    var ticket = result.data;
    dropPending();
    (ticket.messages || []).forEach(function (message) { addMessage(message); });
    state.rating = ticket.rating;
    // Stream from the newest event this snapshot already reflects (0: replay the whole ticket).
    var newest = 0;
    (ticket.events || []).forEach(function (event) { newest = Math.max(newest, event.id); });
    if (state.lastEventId === null || newest > state.lastEventId) state.lastEventId = newest;
    setStatus(ticket.status);
    return true;
  }

  async function adopt(stored) {
    stopStream();
    clearLog();
    state = { token: stored.token, ticketId: stored.ticketId, status: null, rating: null, lastEventId: null, hasAgent: false };
    try {
      if (await loadTicket()) startStream();
    } catch (e) {
      state.lastEventId = 0; // the stream replays the whole conversation
      startStream();
    }
  }

  async function createInquiry(text) {
    var pending = addPending("customer", "text", text);
    var body = { channel: "chat", text: text };
    if (customerId) {
      body.customer = { external_id: customerId };
      if (signature) body.customer.signature = signature;
    }
    // After a closed conversation the old token links the new question to the same customer.
    var result = null;
    try {
      result = await api("POST", "inquiries", body, state.token || null);
      if (result.status === 401 && state.token) result = await api("POST", "inquiries", body, null);
    } finally {
      if (!result) pending.remove();
    }
    if (result.status !== 201) {
      pending.remove();
      throw result;
    }
    var created = result.data;
    stopStream();
    clearLog();
    log.appendChild(pending);
    state = {
      token: created.customer_token, ticketId: created.ticket_id, status: created.status,
      rating: null, lastEventId: null, hasAgent: false
    };
    save();
    if (created.auto_reply) addPending("system", "auto_reply", created.auto_reply.answer);
    setStatus(created.status);
    try {
      await loadTicket();
    } catch (e) {
      state.lastEventId = 0;
    }
    if (created.status === "open") {
      notice("created", "您的问题已转给人工客服，工单号 #" + created.ticket_id + "，人工客服马上为您服务。");
    }
    startStream();
  }

  async function sendMessage(text) {
    var pending = addPending("customer", "text", text);
    var result;
    try {
      result = await api("POST", "tickets/" + state.ticketId + "/messages", { body: text });
    } finally {
      pending.remove();
    }
    if (result.status === 201) {
      addMessage(result.data);
      return;
    }
    if (result.status === 409) {
      await loadTicket();
      if (state.status === "closed") return createInquiry(text);
    }
    throw result;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim() || busy) return;
    busy = true;
    sendButton.disabled = true;
    input.value = "";
    try {
      if (!state.ticketId || state.status === "closed") await createInquiry(text);
      else await sendMessage(text);
    } catch (failure) {
      if (!input.value) input.value = text;
      showError(errorText(failure && failure.status ? failure : null));
    } finally {
      busy = false;
      sendButton.disabled = false;
      input.focus();
    }
  });

  input.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter is a new line; Enter that confirms a Chinese IME candidate does not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ------------------------------------------------------------------ live events

  var stream = { generation: 0, controller: null, downTimer: null };

  function stopStream() {
    stream.generation += 1;
    if (stream.controller) stream.controller.abort();
    stream.controller = null;
    connected(true);
  }

  function startStream() {
    stopStream();
    if (!state.token) return;
    run(stream.generation);
  }

  function connected(up) {
    clearTimeout(stream.downTimer);
    if (up) {
      connLine.hidden = true;
      return;
    }
    stream.downTimer = setTimeout(function () {
      connLine.textContent = "连接已中断，正在重新连接…";
      connLine.hidden = false;
    }, 1500);
  }

  async function run(generation) {
    var delay = 500;
    while (generation === stream.generation) {
      var controller = new AbortController();
      stream.controller = controller;
      var watchdog = null;
      var kick = function () {
        clearTimeout(watchdog);
        watchdog = setTimeout(function () { controller.abort(); }, 40000); // heartbeats come every 15 s
      };
      try {
        var headers = { Authorization: "Bearer " + state.token, Accept: "text/event-stream" };
        if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
        var response = await fetch(API + "events/stream", { headers: headers, cache: "no-store", signal: controller.signal });
        if (response.status === 401 || response.status === 404) {
          if (generation === stream.generation) forget();
          return;
        }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        kick();
        connected(true);
        delay = 500;
        await readEvents(response.body.getReader(), generation, kick);
      } catch (e) {
        /* dropped: reconnect below */
      }
      clearTimeout(watchdog);
      if (generation !== stream.generation) return;
      connected(false);
      await sleep(delay + Math.random() * 300);
      delay = Math.min(delay * 2, 10000);
    }
  }

  function readEvents(reader, generation, kick) {
    return window.TriageSSE.read(reader, {
      isCurrent: function () { return generation === stream.generation; },
      onChunk: kick,
      onFrame: dispatch,
    });
  }

  function dispatch(raw) {
    var id = raw.id !== null && /^\d+$/.test(raw.id) ? Number(raw.id) : null;
    if (id !== null && state.lastEventId !== null && id <= state.lastEventId) return; // already shown
    var data;
    try { data = JSON.parse(raw.data.join("\n")); } catch (e) { return; }
    if (id !== null) state.lastEventId = id;
    if (data.ticket_id !== state.ticketId) return;
    onEvent(data);
  }

  function onEvent(event) {
    if (event.message && addMessage(event.message, event.created_at) && event.message.author_type !== "customer") {
      bumpUnread();
    }
    var key = "e" + event.id;
    if (event.type === "ticket.assigned") notice(key, "人工客服已接入，正在为您处理。");
    else if (event.type === "ticket.handed_over") notice("handover", handoverText(event.ticket_id));
    else if (event.type === "ticket.resolved") notice(key, "客服已将您的问题标记为已解决。");
    else if (event.type === "ticket.reopened" && event.from_status === "resolved") {
      notice(key, "工单已重新打开，客服会继续为您跟进。");
    } else if (event.type === "ticket.closed") notice(key, "会话已结束。");
    if (event.type === "ticket.resolved") bumpUnread();
    if (event.to_status && event.to_status !== state.status) setStatus(event.to_status);
    else if (event.message) render();
  }

  // ------------------------------------------------------------------ the host page and the panel

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data) return;
    if (event.data.type === "triage:open") {
      panelOpen = true;
      unread = 0;
      toParent({ type: "triage:unread", count: 0 });
      setTimeout(function () { input.focus(); }, 0);
    } else if (event.data.type === "triage:closed") {
      panelOpen = false;
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") toParent({ type: "triage:close" });
  });
  $("close").addEventListener("click", function () { toParent({ type: "triage:close" }); });
  if (!embedded) $("close").hidden = true;

  // Another tab started a new conversation (or forgot this one): follow it.
  window.addEventListener("storage", function (event) {
    if (event.key !== KEY) return;
    var stored = saved();
    if (!stored) {
      if (state.ticketId) forget();
    } else if (stored.ticketId !== state.ticketId) {
      adopt(stored);
    }
  });

  document.title = title;
  $("title").textContent = title;
  render();
  var stored = saved();
  if (stored) adopt(stored);
  toParent({ type: "triage:ready" });
})();
