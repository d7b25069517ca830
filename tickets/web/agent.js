/* The agent workspace at /agent: queues, tickets by time left before an SLA breach, the conversation
 * with its triage decision, and the actions (claim, reply, resolve, escalate, reroute), kept live by
 * the event stream. The token lives in sessionStorage (this tab only). Everything customers or
 * agents wrote is put on the page with textContent, never as HTML. */
(function () {
  "use strict";

  var API = location.origin + location.pathname.replace(/agent\/?$/, "") + "api/v1/";
  var TOKEN_KEY = "triage-agent-token";
  var ME_KEY = "triage-agent-me";
  var QUEUE_KEY = "triage-agent-queue";

  var STATUS = {
    auto_replied: "已自动回复", open: "待处理", pending_customer: "待客户回复", resolved: "待客户确认", closed: "已关闭"
  };
  var CHANNEL = { chat: "在线", phone: "电话", email: "邮件", web: "网页" };
  var PRIORITY = { urgent: "紧急", high: "高", normal: "普通", low: "低" };
  var LEVEL = ["部门处理", "跨部门协调组", "管理层"];
  var CLOCKS = [["first_response", "首次响应", "首响"], ["next_response", "再次响应", "再响"], ["resolution", "解决", "解决"]];
  var EVENTS = {
    "ticket.created": "创建", "ticket.auto_replied": "FAQ 自动回复", "ticket.queued": "进入队列",
    "ticket.handed_over": "转人工", "ticket.assigned": "认领", "ticket.first_response": "首次响应",
    "ticket.resolved": "标记已解决", "ticket.reopened": "重新打开", "ticket.closed": "关闭",
    "ticket.escalated": "升级", "ticket.rerouted": "改派", "sla.warning": "SLA 预警", "sla.breached": "SLA 超时"
  };

  var $ = function (id) { return document.getElementById(id); };
  var S = {
    token: null, myId: null, queues: [], taxonomy: { intents: [], queues: [], faqs: [] },
    intentNames: {}, queueNames: {}, queue: null, status: "open", tickets: [], ticket: null,
    seen: new Set(), fresh: new Set(), busy: false
  };

  // ------------------------------------------------------------------ helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function clock(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var today = new Date();
    var time = pad(date.getHours()) + ":" + pad(date.getMinutes());
    return date.toDateString() === today.toDateString() ? time : (date.getMonth() + 1) + "月" + date.getDate() + "日 " + time;
  }

  function duration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (h >= 48) return Math.floor(h / 24) + " 天";
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }

  function intentName(id) { return S.intentNames[id] || id; }
  function queueName(id) { return S.queueNames[id] || id; }

  function toast(text, kind) {
    var node = el("div", "ag-toast" + (kind ? " ag-toast-" + kind : ""), text);
    $("toasts").appendChild(node);
    setTimeout(function () { node.remove(); }, kind === "error" ? 7000 : 4500);
  }

  var ERRORS = {
    401: "登录已失效，请重新登录",
    403: "没有权限执行此操作（需要客服 agent 令牌）",
    404: "工单不存在或无权查看",
    409: "当前状态不允许此操作（可能已被其他客服处理），已刷新",
    413: "内容太长",
    422: "输入有误，请检查后重试"
  };

  async function api(method, path, body) {
    var headers = { Accept: "application/json", Authorization: "Bearer " + S.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var response;
    try {
      response = await fetch(API + path, {
        method: method, headers: headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    } catch (e) {
      return { ok: false, status: 0, data: null };
    }
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401 && !$("app").hidden) logout("登录已失效，请重新登录");
    return { ok: response.ok, status: response.status, data: data };
  }

  function failed(result, what) {
    toast(what + "失败：" + (ERRORS[result.status] || "网络错误，请稍后重试"), "error");
  }

  // ------------------------------------------------------------------ login

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  async function login(token) {
    S.token = token;
    var result = await api("GET", "queues");
    if (!result.ok) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(result.status === 401 ? "令牌无效或已被吊销" : result.status === 403 ? "此令牌不是客服令牌" : "无法连接服务器，请稍后重试");
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    S.myId = Number(sessionStorage.getItem(ME_KEY)) || null;
    $("login").hidden = true;
    $("app").hidden = false;
    showMe();
    var taxonomy = await api("GET", "taxonomy");
    if (taxonomy.ok) setTaxonomy(taxonomy.data);
    renderQueues(result.data);
    var remembered = sessionStorage.getItem(QUEUE_KEY);
    var first = result.data.filter(function (q) { return q.open > 0; })[0] || result.data[0];
    var start = result.data.some(function (q) { return q.id === remembered; }) ? remembered : first && first.id;
    if (start) selectQueue(start);
    startStream();
  }

  function logout(message) {
    stopStream();
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ME_KEY);
    S.token = null;
    S.ticket = null;
    $("token").value = "";
    showLogin(message);
  }

  function learnMe(id) {
    if (!id || S.myId === id) return;
    S.myId = id;
    sessionStorage.setItem(ME_KEY, String(id));
    showMe();
  }

  function showMe() { $("me").textContent = S.myId ? "客服 #" + S.myId : "客服"; }

  function setTaxonomy(taxonomy) {
    S.taxonomy = taxonomy;
    S.intentNames = {};
    S.queueNames = {};
    taxonomy.queues.forEach(function (q) { S.queueNames[q.id] = q.name; });
    taxonomy.intents.forEach(function (i) { S.intentNames[i.id] = i.name; });
    var intents = $("reroute-intent");
    intents.replaceChildren(new Option("（意图不变）", ""));
    taxonomy.intents.forEach(function (i) {
      intents.appendChild(new Option(i.name + " → " + queueName(i.queue), i.id));
    });
    var queues = $("reroute-queue");
    queues.replaceChildren(new Option("（随意图确定）", ""));
    taxonomy.queues.forEach(function (q) { queues.appendChild(new Option(q.name, q.id)); });
  }

  // ------------------------------------------------------------------ queues and the ticket list

  async function loadQueues() {
    var result = await api("GET", "queues");
    if (result.ok) renderQueues(result.data);
  }

  function renderQueues(queues) {
    S.queues = queues;
    queues.forEach(function (q) { if (!S.queueNames[q.id]) S.queueNames[q.id] = q.name; });
    var list = $("queues");
    var focused = document.activeElement && document.activeElement.dataset.queue;
    list.replaceChildren();
    queues.forEach(function (q) {
      var item = el("li");
      var button = el("button", "ag-queue");
      button.type = "button";
      button.dataset.queue = q.id;
      if (q.id === S.queue) button.setAttribute("aria-current", "true");
      button.appendChild(el("span", "ag-queue-name", q.name));
      var counts = el("span", "ag-counts");
      counts.appendChild(el("span", "ag-count ag-c-open" + (q.open ? "" : " ag-zero"), String(q.open)));
      counts.appendChild(el("span", "ag-count ag-c-pending", String(q.pending_customer)));
      if (q.breached) counts.appendChild(el("span", "ag-count ag-c-breach", String(q.breached)));
      if (q.at_risk) counts.appendChild(el("span", "ag-count ag-c-warn", String(q.at_risk)));
      button.appendChild(counts);
      button.setAttribute("aria-label", q.name + "：待处理 " + q.open + "，待客户 " + q.pending_customer +
        "，超时 " + q.breached + "，预警 " + q.at_risk);
      button.addEventListener("click", function () { selectQueue(q.id); });
      item.appendChild(button);
      list.appendChild(item);
      if (focused === q.id) button.focus();
    });
  }

  function selectQueue(id) {
    S.queue = id;
    sessionStorage.setItem(QUEUE_KEY, id);
    $("list-title").textContent = queueName(id);
    document.querySelectorAll(".ag-queue").forEach(function (b) {
      if (b.dataset.queue === id) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
    S.tickets = [];
    loadTickets();
  }

  async function loadTickets() {
    if (!S.queue) return;
    var queue = S.queue;
    var status = S.status;
    var result = await api("GET", "tickets?limit=100&queue=" + encodeURIComponent(queue) + "&status=" + status);
    if (!result.ok || queue !== S.queue || status !== S.status) return;
    var now = Date.now();
    S.tickets = result.data.items.map(function (t) { t._received = now; return t; });
    renderTickets();
  }

  /** The running clock closest to its due time, as a local deadline (immune to client clock skew). */
  function nearestClock(ticket, received) {
    var best = null;
    var paused = false;
    CLOCKS.forEach(function (pair) {
      var metric = ticket.sla && ticket.sla[pair[0]];
      if (!metric) return;
      if (metric.state === "paused") paused = true;
      if (metric.seconds_left === null || metric.seconds_left === undefined) return;
      var deadline = received + metric.seconds_left * 1000;
      if (!best || deadline < best.deadline) {
        best = { deadline: deadline, label: pair[1], short: pair[2], state: metric.state, target: metric.target_seconds };
      }
    });
    return best || (paused ? { paused: true } : null);
  }

  function slaBadge(info, short) {
    var node = el("span", "ag-sla");
    if (!info) {
      node.textContent = "—";
      node.classList.add("ag-sla-none");
    } else if (info.paused) {
      node.textContent = "SLA 暂停";
      node.classList.add("ag-sla-none");
    } else {
      node.dataset.deadline = String(info.deadline);
      node.dataset.label = short && info.short ? info.short : info.label;
      node.dataset.target = String(info.target || 0);
      node.dataset.warned = info.state === "warned" ? "1" : "";
      paintSla(node, Date.now());
    }
    return node;
  }

  function paintSla(node, now) {
    var left = (Number(node.dataset.deadline) - now) / 1000;
    var target = Number(node.dataset.target);
    node.classList.toggle("ag-sla-breach", left < 0);
    node.classList.toggle("ag-sla-warn", left >= 0 && (node.dataset.warned === "1" || (target > 0 && left < target * 0.25)));
    node.textContent = node.dataset.label + (left < 0 ? " 已超时 " : " 剩 ") + duration(left);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".ag-sla[data-deadline]").forEach(function (node) { paintSla(node, now); });
  }

  function renderTickets() {
    var list = $("tickets");
    var focused = document.activeElement && document.activeElement.dataset.ticket;
    list.replaceChildren();
    $("list-empty").hidden = S.tickets.length > 0;
    S.tickets.forEach(function (t) {
      var item = el("li");
      var row = el("button", "ag-row");
      row.type = "button";
      row.dataset.ticket = String(t.id);
      if (S.ticket && S.ticket.id === t.id) row.setAttribute("aria-current", "true");
      if (S.fresh.has(t.id)) row.classList.add("ag-new");
      var top = el("span", "ag-row-top");
      top.appendChild(el("span", "ag-id", "#" + t.id));
      top.appendChild(el("span", "ag-prio ag-prio-" + t.triage.priority, PRIORITY[t.triage.priority] || t.triage.priority));
      top.appendChild(el("span", "ag-chan", CHANNEL[t.channel] || t.channel));
      if (t.escalation_level) top.appendChild(el("span", "ag-esc", "升级 " + t.escalation_level));
      top.appendChild(slaBadge(nearestClock(t, t._received), true));
      row.appendChild(top);
      row.appendChild(el("span", "ag-subject", t.subject));
      var owner = t.assignee_id ? (t.assignee_id === S.myId ? "我处理中" : "客服 #" + t.assignee_id + " 处理中") : "未认领";
      row.appendChild(el("span", "ag-row-meta", intentName(t.triage.intent) + " · " + owner + " · " + clock(t.created_at)));
      row.addEventListener("click", function () { openTicket(t.id); });
      item.appendChild(row);
      list.appendChild(item);
      if (focused === String(t.id)) row.focus();
    });
  }

  $("status-filter").addEventListener("change", function (event) {
    S.status = event.target.value;
    loadTickets();
  });

  // ------------------------------------------------------------------ one ticket

  async function openTicket(id) {
    S.fresh.delete(id);
    if (!S.ticket || S.ticket.id !== id) {
      $("messages").replaceChildren();
      S.seen.clear();
      $("reply").value = "";
      closePanels();
      $("reroute-intent").value = "";
      $("reroute-queue").value = "";
      $("faq-all").checked = false;
    }
    await loadTicket(id);
    renderTickets();
  }

  async function loadTicket(id) {
    var result = await api("GET", "tickets/" + id);
    if (!result.ok) {
      if (result.status !== 401) failed(result, "打开工单");
      return;
    }
    if (S.ticket && S.ticket.id !== id) {
      $("messages").replaceChildren();
      S.seen.clear();
    }
    var ticket = result.data;
    ticket._received = Date.now();
    var intentChanged = !S.ticket || S.ticket.id !== id || S.ticket.triage.intent !== ticket.triage.intent;
    S.ticket = ticket;
    ticket.messages.forEach(function (m) { addMessage(m); });
    renderDetail();
    if (intentChanged) renderFaqs();
  }

  function renderDetail() {
    var t = S.ticket;
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
    $("t-title").textContent = "#" + t.id + " " + t.subject;
    var owner = t.assignee_id ? (t.assignee_id === S.myId ? "我" : "客服 #" + t.assignee_id) : "未认领";
    var meta = [
      STATUS[t.status] || t.status, CHANNEL[t.channel] || t.channel, "处理人：" + owner,
      "级别：" + LEVEL[Math.min(t.escalation_level, 2)], "创建于 " + clock(t.created_at)
    ];
    if (t.reopen_count) meta.push("重开 " + t.reopen_count + " 次");
    if (t.rating) meta.push("评分 " + t.rating + " 星" + (t.rating_comment ? "：" + t.rating_comment : ""));
    $("t-meta").textContent = meta.join(" · ");

    var sla = $("t-sla");
    sla.replaceChildren();
    CLOCKS.forEach(function (pair) {
      var metric = t.sla[pair[0]];
      if (!metric || metric.state === "not_started" || metric.state === "cancelled") return;
      if (metric.seconds_left !== null && metric.seconds_left !== undefined) {
        sla.appendChild(slaBadge({ deadline: t._received + metric.seconds_left * 1000, label: pair[1], state: metric.state, target: metric.target_seconds }));
      } else {
        var done = { met: "已达标", breached: "已超时", paused: "暂停中" }[metric.state] || metric.state;
        sla.appendChild(el("span", "ag-sla ag-sla-none" + (metric.state === "breached" ? " ag-sla-breach" : ""), pair[1] + " " + done));
      }
    });

    var working = t.status === "open" || t.status === "pending_customer";
    $("claim").hidden = !working || (t.assignee_id !== null && t.assignee_id === S.myId);
    $("resolve").disabled = !working;
    $("escalate-toggle").disabled = !(working || t.status === "resolved") || t.escalation_level >= 2;
    $("escalate-next").textContent = "升级至：" + LEVEL[Math.min(t.escalation_level + 1, 2)];
    $("reroute-toggle").disabled = !(working || t.status === "auto_replied");
    $("reply").disabled = !working;
    $("send").disabled = !working;
    $("reply").placeholder = working
      ? "输入回复（Ctrl+Enter 发送），或从右侧常用答案一键插入"
      : "此工单当前为「" + (STATUS[t.status] || t.status) + "」，不能回复";

    var triage = $("triage");
    triage.replaceChildren();
    var confidence = Math.round(t.triage.confidence * 1000) / 10;
    [
      ["意图", intentName(t.triage.intent) + "（" + t.triage.intent + "）"],
      ["队列", queueName(t.triage.queue)],
      ["优先级", PRIORITY[t.triage.priority] || t.triage.priority],
      ["置信度", confidence + "%"],
      ["模型", t.triage.model_version]
    ].forEach(function (pair) {
      triage.appendChild(el("dt", null, pair[0]));
      var value = el("dd", null, pair[1]);
      if (pair[0] === "置信度") {
        var bar = el("span", "ag-meter");
        var fill = el("span", "ag-meter-fill" + (confidence < 50 ? " ag-low" : ""));
        fill.style.width = Math.max(2, Math.min(100, confidence)) + "%";
        bar.appendChild(fill);
        value.appendChild(bar);
      }
      triage.appendChild(value);
    });
    var terms = $("terms");
    terms.replaceChildren();
    (t.triage.explanation || []).forEach(function (term) { terms.appendChild(el("li", "ag-term", term)); });
    if (!terms.children.length) terms.appendChild(el("li", "ag-muted", "无"));

    var history = $("history");
    history.replaceChildren();
    t.events.filter(function (e) { return EVENTS[e.type]; }).slice(-12).forEach(function (e) {
      var text = clock(e.created_at) + " " + EVENTS[e.type];
      if (e.type === "ticket.escalated") text += "至" + LEVEL[Math.min(e.details.level || 0, 2)] + "：" + (e.details.reason || "");
      if (e.type === "ticket.rerouted") text += "：" + intentName(e.details.from_intent) + " → " + intentName(e.details.intent) + "（" + queueName(e.details.queue) + "）";
      if (e.type === "ticket.closed" && e.details.rating) text += "，评分 " + e.details.rating + " 星";
      history.appendChild(el("li", null, text));
    });
  }

  var AUTHOR = { customer: "客户", system: "智能助手", integration: "呼叫中心" };

  function addMessage(message, at) {
    if (!message || S.seen.has(message.id)) return;
    S.seen.add(message.id);
    var item = el("li", "ag-msg ag-msg-" + message.author_type);
    item.dataset.id = String(message.id);
    var who = message.author_type === "agent"
      ? (message.author_id && message.author_id === S.myId ? "我" : "客服" + (message.author_id ? " #" + message.author_id : ""))
      : AUTHOR[message.author_type] || message.author_type;
    if (message.kind === "auto_reply") who += "（FAQ 自动回复）";
    if (message.kind === "call_answered") who += "（电话已接通）";
    if (message.kind === "note") who += "（内部备注）";
    var head = el("div", "ag-msg-head", who);
    head.appendChild(el("span", "ag-muted", " " + clock(message.created_at || at)));
    item.appendChild(head);
    item.appendChild(el("div", "ag-msg-body", message.body));
    var list = $("messages");
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      if (Number(list.children[i].dataset.id) > message.id) { before = list.children[i]; break; }
    }
    list.insertBefore(item, before);
    list.scrollTop = list.scrollHeight;
  }

  function renderFaqs() {
    var list = $("faqs");
    list.replaceChildren();
    if (!S.ticket) return;
    var all = $("faq-all").checked;
    var intent = S.ticket.triage.intent;
    var faqs = S.taxonomy.faqs.filter(function (f) { return all || f.intent === intent; });
    if (!faqs.length) {
      list.appendChild(el("li", "ag-muted", all ? "没有常用答案" : "此意图没有常用答案，可勾选“显示全部”"));
      return;
    }
    faqs.forEach(function (faq) {
      var item = el("li");
      var button = el("button", "ag-faq");
      button.type = "button";
      button.appendChild(el("span", "ag-faq-q", faq.question || faq.id));
      button.appendChild(el("span", "ag-faq-a", faq.answer));
      button.setAttribute("aria-label", "插入答案：" + (faq.question || faq.id));
      button.addEventListener("click", function () { insertAnswer(faq.answer); });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  function insertAnswer(text) {
    var box = $("reply");
    if (box.disabled) return;
    var start = box.selectionStart === undefined ? box.value.length : box.selectionStart;
    var end = box.selectionEnd === undefined ? box.value.length : box.selectionEnd;
    box.setRangeText(text, start, end, "end");
    box.focus();
  }

  $("faq-all").addEventListener("change", renderFaqs);

  // ------------------------------------------------------------------ actions

  async function act(what, path, body, after) {
    if (S.busy || !S.ticket) return null;
    S.busy = true;
    var id = S.ticket.id;
    try {
      var result = await api("POST", "tickets/" + id + "/" + path, body);
      if (!result.ok) {
        if (result.status !== 401) failed(result, what);
        if (result.status === 409) await loadTicket(id);
        return null;
      }
      if (after) after(result.data);
      await loadTicket(id);
      scheduleRefresh();
      return result.data;
    } finally {
      S.busy = false;
    }
  }

  $("claim").addEventListener("click", function () {
    act("认领", "claim", undefined, function (ticket) {
      learnMe(ticket.assignee_id);
      toast("已认领工单 #" + ticket.id);
    });
  });

  $("resolve").addEventListener("click", function () {
    act("标记解决", "resolve", {}, function (ticket) { toast("工单 #" + ticket.id + " 已标记解决，等待客户确认"); });
  });

  $("reply-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var box = $("reply");
    var text = box.value;
    if (!text.trim()) return;
    var sent = await act("发送回复", "messages", { body: text }, function (message) {
      learnMe(message.author_id);
      addMessage(message);
    });
    if (sent) box.value = "";
    box.focus();
  });

  $("reply").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  function togglePanel(name, open) {
    var form = $(name + "-form");
    var toggle = $(name + "-toggle");
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) form.querySelector("textarea, select").focus();
  }

  function closePanels() {
    togglePanel("escalate", false);
    togglePanel("reroute", false);
  }

  $("escalate-toggle").addEventListener("click", function () {
    togglePanel("reroute", false);
    togglePanel("escalate", $("escalate-form").hidden);
  });
  $("reroute-toggle").addEventListener("click", function () {
    togglePanel("escalate", false);
    togglePanel("reroute", $("reroute-form").hidden);
  });
  document.querySelectorAll("[data-close]").forEach(function (button) {
    button.addEventListener("click", function () {
      togglePanel(button.dataset.close, false);
      $(button.dataset.close + "-toggle").focus();
    });
  });

  $("escalate-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var reason = $("escalate-reason").value.trim();
    if (!reason) return;
    var done = await act("升级", "escalate", { reason: reason }, function (ticket) {
      toast("工单 #" + ticket.id + " 已升级至" + LEVEL[Math.min(ticket.escalation_level, 2)]);
    });
    if (done) {
      $("escalate-reason").value = "";
      togglePanel("escalate", false);
    }
  });

  $("reroute-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var body = {};
    if ($("reroute-intent").value) body.intent = $("reroute-intent").value;
    if ($("reroute-queue").value) body.queue = $("reroute-queue").value;
    if (!body.intent && !body.queue) {
      toast("请选择新的意图或队列", "error");
      return;
    }
    var done = await act("改派", "reroute", body, function (ticket) {
      toast("工单 #" + ticket.id + " 已改派：" + intentName(ticket.triage.intent) + " · " + queueName(ticket.triage.queue));
    });
    if (done) {
      togglePanel("reroute", false);
      renderFaqs();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (!$("escalate-form").hidden) { togglePanel("escalate", false); $("escalate-toggle").focus(); }
    if (!$("reroute-form").hidden) { togglePanel("reroute", false); $("reroute-toggle").focus(); }
  });

  // ------------------------------------------------------------------ live events

  var refreshTimer = null;
  var queuesTimer = null;
  var detailTimer = null;

  /** Reload the list (and the counts); bursts of events cost one request each. */
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(loadTickets, 150);
    scheduleQueues(150);
  }

  function scheduleQueues(delay) {
    if (queuesTimer) return;
    queuesTimer = setTimeout(function () { queuesTimer = null; loadQueues(); }, delay);
  }

  function scheduleDetail() {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(function () { if (S.ticket) loadTicket(S.ticket.id); }, 150);
  }

  function onEvent(event) {
    var details = event.details || {};
    if (event.queue === S.queue || details.from_queue === S.queue) scheduleRefresh();
    else scheduleQueues(400); // another queue: only its counts change
    var mine = S.ticket && S.ticket.id === event.ticket_id;
    if (event.type === "ticket.created" && event.to_status === "open") {
      S.fresh.add(event.ticket_id);
      toast("新工单 #" + event.ticket_id + "（" + queueName(event.queue) + "）：" + (event.subject || ""));
    } else if (event.type === "ticket.handed_over") {
      S.fresh.add(event.ticket_id);
      toast("工单 #" + event.ticket_id + " 转人工（" + queueName(event.queue) + "）");
    } else if (event.type === "ticket.customer_replied" && !mine) {
      toast("客户回复了工单 #" + event.ticket_id);
    } else if (event.type === "sla.breached") {
      toast("工单 #" + event.ticket_id + " SLA 已超时", "error");
    }
    if (mine) {
      if (event.message) addMessage(event.message, event.created_at);
      scheduleDetail();
    }
  }

  var stream = { generation: 0, controller: null, lastEventId: null };

  function setConn(up) {
    var node = $("conn");
    node.textContent = up ? "实时更新中" : "连接中断，正在重连…";
    node.classList.toggle("ag-conn-down", !up);
  }

  function stopStream() {
    stream.generation += 1;
    if (stream.controller) stream.controller.abort();
    stream.controller = null;
  }

  function startStream() {
    stopStream();
    stream.lastEventId = null;
    run(stream.generation);
  }

  async function run(generation) {
    var delay = 500;
    while (generation === stream.generation) {
      var controller = new AbortController();
      stream.controller = controller;
      var watchdog = null;
      var kick = function () {
        clearTimeout(watchdog);
        watchdog = setTimeout(function () { controller.abort(); }, 40000);
      };
      try {
        var headers = { Authorization: "Bearer " + S.token, Accept: "text/event-stream" };
        if (stream.lastEventId !== null) headers["Last-Event-ID"] = String(stream.lastEventId);
        var response = await fetch(API + "events/stream", { headers: headers, cache: "no-store", signal: controller.signal });
        if (response.status === 401) {
          logout("登录已失效，请重新登录");
          return;
        }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        kick();
        delay = 500;
        await readEvents(response.body.getReader(), generation, kick);
      } catch (e) {
        /* dropped: reconnect below */
      }
      clearTimeout(watchdog);
      if (generation !== stream.generation) return;
      setConn(false);
      await new Promise(function (resolve) { setTimeout(resolve, delay + Math.random() * 300); });
      delay = Math.min(delay * 2, 10000);
    }
  }

  function readEvents(reader, generation, kick) {
    return window.TriageSSE.read(reader, {
      isCurrent: function () { return generation === stream.generation; },
      onChunk: kick,
      onFrame: dispatch,
      onComment: function (text) {
        if (text.indexOf("connected") >= 0) {
          // Live from here on: catch up on anything that changed while we were away.
          setConn(true);
          scheduleRefresh();
          scheduleDetail();
        }
      },
    });
  }

  function dispatch(raw) {
    var id = raw.id !== null && /^\d+$/.test(raw.id) ? Number(raw.id) : null;
    if (id !== null && stream.lastEventId !== null && id <= stream.lastEventId) return;
    if (id !== null) stream.lastEventId = id;
    var data;
    try { data = JSON.parse(raw.data.join("\n")); } catch (e) { return; }
    onEvent(data);
  }

  // ------------------------------------------------------------------ start

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var token = $("token").value.trim();
    if (token) login(token);
  });
  $("logout").addEventListener("click", function () { logout(""); });
  setInterval(tick, 1000);

  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved);
  else showLogin("");
})();
