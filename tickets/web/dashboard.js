/* Triage Desk supervisors' live dashboard.
 *
 * No framework and no external assets: plain DOM, an inline SVG chart, and fetch() for the API
 * and for the server-sent event stream (EventSource cannot send an Authorization header).
 * Every piece of user text (subjects, keywords, queue and agent names) goes in with textContent
 * or setAttribute, never innerHTML.
 */
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'triageDesk.supervisorToken';
  const DAY_MS = 86400000;
  const TREND_DAYS = 14;
  const LIST_LIMIT = 200;
  const FEED_MAX = 40;
  const STREAM_TYPES = 'sla.warning,sla.breached,sla.met,ticket.';
  const STREAM_IDLE_MS = 45000; // the server sends a heartbeat every 15 s
  const LIVE_GAP_MS = 500; // lists and queues: at most every 0.5 s while events arrive
  const REPORT_GAP_MS = 5000; // reports: at most every 5 s while events arrive
  const LIVE_POLL_MS = 30000;
  const REPORT_POLL_MS = 60000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const CHANNELS = [
    ['phone', '电话'],
    ['chat', '在线'],
    ['email', '邮件'],
    ['web', '网页'],
  ];
  const CHANNEL_NAMES = Object.fromEntries(CHANNELS);
  const METRIC_NAMES = { first_response: '首次响应', next_response: '再次响应', resolution: '解决时限' };
  const PRIORITY_NAMES = { urgent: '紧急', high: '高', normal: '普通', low: '低' };
  const STATUS_NAMES = {
    auto_replied: '已自动回复',
    open: '待处理',
    pending_customer: '待客户回复',
    resolved: '待客户确认',
    closed: '已关闭',
  };
  const EVENT_NAMES = {
    'sla.warning': '即将超时',
    'sla.breached': '已超时',
    'sla.met': '按时响应',
    'ticket.created': '新工单',
    'ticket.handed_over': '转人工',
    'ticket.assigned': '已分配',
    'ticket.first_response': '首次响应',
    'ticket.call_answered': '电话接通',
    'ticket.escalated': '已升级',
    'ticket.reopened': '重新打开',
    'ticket.resolved': '已解决',
    'ticket.closed': '已关闭',
  };
  const EVENT_TONE = {
    'sla.warning': 'warn',
    'sla.breached': 'danger',
    'sla.met': 'ok',
    'ticket.escalated': 'danger',
    'ticket.reopened': 'warn',
    'ticket.closed': 'ok',
    'ticket.resolved': 'ok',
  };
  const PERIODS = { today: { days: 1, label: '今日' }, '7d': { days: 7, label: '近7天' }, '30d': { days: 30, label: '近30天' } };

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    generation: 0, // bumped at logout: late answers of an old session are dropped
    zoneOffsetMs: 0, // UTC offset of the server's report time zone
    skewMs: 0, // server clock minus browser clock
    skewPrecise: false,
    period: '7d',
    queues: new Map(),
    policies: null,
    lastEventId: null,
    streamController: null,
    intervals: [],
    timers: new Map(), // timer element -> { deadline (browser ms), mode }
    trend: null,
  };

  // ------------------------------------------------------------------ small helpers

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const pad = (n) => String(n).padStart(2, '0');

  function pct(rate) {
    return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 10) return `${seconds.toFixed(1)} 秒`;
    if (seconds < 59.5) return `${Math.round(seconds)} 秒`;
    if (seconds < 3600) {
      const whole = Math.round(seconds);
      const m = Math.floor(whole / 60);
      const s = whole % 60;
      return s ? `${m} 分 ${s} 秒` : `${m} 分钟`;
    }
    if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} 小时`;
    return `${(seconds / 86400).toFixed(1)} 天`;
  }

  function target(seconds) {
    if (!seconds) return '—';
    if (seconds < 60) return `${seconds} 秒`;
    if (seconds % 86400 === 0) return `${seconds / 86400} 天`;
    if (seconds % 3600 === 0) return `${seconds / 3600} 小时`;
    if (seconds % 60 === 0) return `${seconds / 60} 分钟`;
    return duration(seconds);
  }

  /** mm:ss under an hour, h:mm:ss under a day, then N天 hh:mm:ss. */
  function clock(totalSeconds) {
    const t = Math.max(0, Math.floor(totalSeconds));
    const d = Math.floor(t / 86400);
    const h = Math.floor((t % 86400) / 3600);
    const m = Math.floor((t % 3600) / 60);
    const s = t % 60;
    if (d) return `${d}天 ${pad(h)}:${pad(m)}:${pad(s)}`;
    if (h) return `${h}:${pad(m)}:${pad(s)}`;
    return `${pad(m)}:${pad(s)}`;
  }

  const serverNow = () => Date.now() + state.skewMs;

  /** YYYY-MM-DD of a moment in the report time zone. */
  function zoneDate(ms) {
    return new Date(ms + state.zoneOffsetMs).toISOString().slice(0, 10);
  }

  function addDays(day, n) {
    return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
  }

  function localTime(iso) {
    const d = new Date(Date.parse(iso) + state.zoneOffsetMs);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }

  function parseOffset(iso) {
    const match = /([+-])(\d{2}):?(\d{2})$/.exec(iso || '');
    if (!match) return 0;
    const minutes = Number(match[2]) * 60 + Number(match[3]);
    return (match[1] === '-' ? -1 : 1) * minutes * 60000;
  }

  function noteServerDate(response) {
    if (state.skewPrecise) return;
    const header = response.headers.get('Date');
    const at = header ? Date.parse(header) : NaN;
    // The Date header has a one-second resolution: aim at the middle of that second.
    if (!Number.isNaN(at)) state.skewMs = at + 500 - Date.now();
  }

  // ------------------------------------------------------------------ API

  async function request(path, token, signal) {
    let response;
    try {
      response = await fetch(API + path, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        cache: 'no-store',
        signal,
      });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, '无法连接服务器');
    }
    noteServerDate(response);
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (_) {
        /* not JSON */
      }
      throw new ApiError(response.status, message);
    }
    return response.json();
  }

  function api(path) {
    if (!state.token) return Promise.reject(new ApiError(-1, 'signed out'));
    const generation = state.generation;
    return request(path, state.token).then((body) => {
      if (generation !== state.generation) throw new ApiError(-1, 'stale');
      return body;
    });
  }

  // ------------------------------------------------------------------ login / logout

  function loginMessage(error) {
    if (error.status === 401) return '令牌无效或已停用，请检查是否完整复制，或联系管理员重新生成。';
    if (error.status === 403) return '该令牌没有主管权限，无法查看看板。请使用主管（supervisor）角色的令牌。';
    if (error.status === 0) return '无法连接服务器，请检查网络后重试。';
    return `登录失败（${error.status}）：${error.message}`;
  }

  /** A supervisor token passes both checks: reports (supervisor, admin) and queues (agent, supervisor).
   * The report's "from" also tells the UTC offset of the server's report time zone. */
  async function verify(token) {
    const day = new Date().toISOString().slice(0, 10);
    const probe = await request(`/reports/sla?from=${day}&to=${addDays(day, 1)}&group_by=channel`, token);
    await request('/queues', token);
    return parseOffset(probe.from);
  }

  function showLogin(message) {
    $('dashboard-view').hidden = true;
    $('login-view').hidden = false;
    const error = $('login-error');
    error.textContent = message || '';
    error.hidden = !message;
    $('token-input').value = '';
    $('token-input').focus();
  }

  async function onLoginSubmit(event) {
    event.preventDefault();
    const token = $('token-input').value.trim();
    const error = $('login-error');
    if (!token) {
      error.textContent = '请输入令牌。';
      error.hidden = false;
      return;
    }
    const button = $('login-button');
    button.disabled = true;
    button.textContent = '正在验证…';
    try {
      const offset = await verify(token);
      sessionStorage.setItem(TOKEN_KEY, token);
      start(token, offset);
    } catch (e) {
      error.textContent = loginMessage(e);
      error.hidden = false;
      $('token-input').select();
    } finally {
      button.disabled = false;
      button.textContent = '登录';
    }
  }

  function stop() {
    state.generation += 1;
    if (state.streamController) state.streamController.abort();
    state.streamController = null;
    for (const id of state.intervals) clearInterval(id);
    state.intervals = [];
    state.timers.clear();
    state.token = null;
    state.lastEventId = null;
  }

  function logout(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    for (const id of ['breached-list', 'risk-list', 'feed-list', 'queue-rows', 'channel-rows', 'keyword-list', 'trend-chart']) {
      $(id).replaceChildren();
    }
    showLogin(message);
  }

  function start(token, offset) {
    stop();
    state.token = token;
    state.zoneOffsetMs = offset;
    state.skewPrecise = false;
    $('login-view').hidden = true;
    $('dashboard-view').hidden = false;
    $('feed-list').replaceChildren(el('li', 'empty-row', '等待新事件…'));
    hideBanner();
    refreshReports(true);
    refreshLive(true);
    runStream(state.generation);
    state.intervals.push(setInterval(tick, 1000));
    state.intervals.push(setInterval(() => refreshLive(), LIVE_POLL_MS));
    state.intervals.push(setInterval(() => refreshReports(), REPORT_POLL_MS));
  }

  function failed(error) {
    if (error.status === -1 || error.name === 'AbortError') return;
    if (error.status === 401) {
      logout('登录已失效（令牌无效或已停用），请重新输入令牌。');
      return;
    }
    if (error.status === 403) {
      logout('该令牌已没有主管权限，请使用主管令牌登录。');
      return;
    }
    showBanner(`数据加载失败：${error.message}。稍后自动重试。`);
  }

  function showBanner(text) {
    const banner = $('global-error');
    banner.textContent = text;
    banner.hidden = false;
  }

  function hideBanner() {
    $('global-error').hidden = true;
  }

  /** Run ``work`` at most once per ``gap`` ms and never twice at once; ``schedule(true)`` runs it now
   * (or right after the run in progress). */
  function throttled(work, gap) {
    let timer = null;
    let running = false;
    let again = false;
    let urgent = false;
    let last = 0;
    async function run() {
      timer = null;
      running = true;
      last = Date.now();
      try {
        await work();
        hideBanner();
        $('updated-at').textContent = `更新于 ${localTime(new Date(serverNow()).toISOString())}`;
      } catch (error) {
        failed(error);
      } finally {
        running = false;
        if (again) {
          const now = urgent;
          again = false;
          urgent = false;
          schedule(now);
        }
      }
    }
    function schedule(now) {
      if (running) {
        again = true;
        urgent = urgent || Boolean(now);
        return;
      }
      if (timer !== null) {
        if (!now) return;
        clearTimeout(timer);
      }
      timer = setTimeout(run, now ? 0 : Math.max(0, last + gap - Date.now()));
    }
    return schedule;
  }

  // ------------------------------------------------------------------ reports: KPI, channels, trend, keywords

  async function loadReports() {
    const today = zoneDate(serverNow());
    const days = PERIODS[state.period].days;
    const periodFrom = addDays(today, 1 - days);
    const week = addDays(today, -6);
    const trendFrom = addDays(today, 1 - TREND_DAYS);
    const cache = new Map();
    const get = (path) => {
      if (!cache.has(path)) cache.set(path, api(path));
      return cache.get(path);
    };
    const channelReport = (from) => get(`/reports/sla?from=${from}&group_by=channel`);
    const [kpi, periodSla, todaySla, weekSla, trend, policies] = await Promise.all([
      get(`/reports/kpi?from=${periodFrom}`),
      channelReport(periodFrom),
      channelReport(today),
      channelReport(week),
      get(`/reports/sla?from=${trendFrom}&group_by=day`),
      state.policies ? Promise.resolve(state.policies) : get('/sla/policies'),
    ]);
    state.policies = policies;
    renderKpi(kpi, periodSla.groups, periodFrom);
    renderChannels(todaySla.groups, weekSla.groups);
    state.trend = { groups: trend.groups, from: trendFrom, today };
    renderTrend();
    renderKeywords(kpi.top_complaint_keywords || []);
  }

  const refreshReports = throttled(loadReports, REPORT_GAP_MS);

  function setKpi(key, value, sub, title) {
    const tile = document.querySelector(`.kpi[data-kpi="${key}"]`);
    const valueNode = tile.querySelector('.kpi-value');
    valueNode.replaceChildren();
    if (Array.isArray(value)) {
      valueNode.append(value[0], el('span', 'kpi-unit', value[1]));
    } else {
      valueNode.textContent = value;
    }
    tile.classList.toggle('empty', value === '—');
    tile.querySelector('.kpi-sub').textContent = sub || '';
    if (title) tile.title = title;
  }

  function renderKpi(kpi, slaGroups, from) {
    let met = 0;
    let breached = 0;
    for (const g of slaGroups) {
      met += g.met;
      breached += g.breached;
    }
    setKpi('first_response_compliance', pct(kpi.first_response_compliance), `达标 ${met} · 超时 ${breached}`,
      '首次响应在时限内完成的工单 ÷ 已有结论（达标或超时）的工单');
    setKpi('median_first_response_seconds', duration(kpi.median_first_response_seconds),
      `P90 ${duration(kpi.p90_first_response_seconds)}`, '从进入人工队列到首次人工回复（电话为接通）的时长');
    setKpi('auto_reply_rate', pct(kpi.auto_reply_rate), 'FAQ 自动答复的工单占比');
    setKpi('auto_reply_acceptance', pct(kpi.auto_reply_acceptance), '客户确认自动答复已解决');
    setKpi('resolution_rate', pct(kpi.resolution_rate), '转人工后已解决');
    setKpi('confirmed_closure_rate', pct(kpi.confirmed_closure_rate), '关闭工单中客户确认');
    setKpi('reopen_rate', pct(kpi.reopen_rate), '转人工后被重新打开');
    const csat = kpi.csat || {};
    setKpi('csat', csat.mean === null || csat.mean === undefined ? '—' : [csat.mean.toFixed(2), ' / 5'],
      csat.ratings ? `好评率 ${pct(csat.share_4_or_5)} · ${csat.ratings} 份评价` : '暂无评价');
    setKpi('complaint_rate', pct(kpi.complaint_rate), '投诉类工单占比');
    setKpi('tickets', String(kpi.tickets), `${from} 起创建`);
  }

  function policyTarget(channel) {
    const policies = (state.policies && state.policies.policies) || [];
    const policy = policies.find((p) => !p.match.channel || p.match.channel.includes(channel));
    return policy ? policy : null;
  }

  function rateCell(rate) {
    const cell = el('td', 'num rate');
    const value = el('span', 'rate-value', pct(rate));
    const bar = el('span', 'bar');
    const fill = el('span', 'bar-fill');
    if (rate !== null && rate !== undefined) {
      fill.style.width = `${Math.round(rate * 100)}%`;
      fill.classList.add(rate >= 0.95 ? 'good' : rate >= 0.8 ? 'fair' : 'poor');
      value.classList.add(rate >= 0.95 ? 'good' : rate >= 0.8 ? 'fair' : 'poor');
    } else {
      value.classList.add('muted');
    }
    bar.append(fill);
    cell.append(value, bar);
    return cell;
  }

  function renderChannels(todayGroups, weekGroups) {
    const byChannel = (groups) => Object.fromEntries(groups.map((g) => [g.channel, g]));
    const today = byChannel(todayGroups);
    const week = byChannel(weekGroups);
    const rows = CHANNELS.map(([id, name]) => {
      const t = today[id] || {};
      const w = week[id] || {};
      const row = el('tr');
      row.dataset.channel = id;
      row.append(el('th', 'channel-name', name));
      const policy = policyTarget(id);
      const targetCell = el('td', 'num muted', target(policy && policy.first_response_seconds));
      if (policy && policy.calendar !== '24x7') targetCell.title = `按工作日历（${policy.calendar}）计时`;
      row.append(targetCell);
      const todayRate = rateCell(t.compliance_rate);
      todayRate.dataset.col = 'today-rate';
      row.append(todayRate);
      const todayCounts = el('td', 'num counts', `${t.met || 0} / ${t.breached || 0} / ${t.running || 0}`);
      todayCounts.dataset.col = 'today-counts';
      row.append(todayCounts);
      const weekRate = rateCell(w.compliance_rate);
      weekRate.dataset.col = 'week-rate';
      row.append(weekRate);
      const weekCounts = el('td', 'num counts', `${w.met || 0} / ${w.breached || 0}`);
      weekCounts.dataset.col = 'week-counts';
      row.append(weekCounts);
      const median = el('td', 'num', duration(w.median_first_response_seconds));
      median.dataset.col = 'week-median';
      row.append(median);
      return row;
    });
    $('channel-rows').replaceChildren(...rows);
  }

  function renderTrend() {
    const box = $('trend-chart');
    if (!state.trend || box.offsetParent === null) return;
    const { groups, from, today } = state.trend;
    const byDay = Object.fromEntries(groups.map((g) => [g.day, g]));
    const days = Array.from({ length: TREND_DAYS }, (_, i) => addDays(from, i));
    const width = Math.max(320, box.clientWidth);
    const height = Math.max(150, box.clientHeight);
    const m = { top: 12, right: 10, bottom: 24, left: 40 };
    const plotW = width - m.left - m.right;
    const plotH = height - m.top - m.bottom;
    const step = plotW / days.length;
    const maxVolume = Math.max(1, ...days.map((d) => (byDay[d] ? byDay[d].tickets_with_target : 0)));
    const x = (i) => m.left + step * (i + 0.5);
    const yRate = (r) => m.top + plotH * (1 - r);
    const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'trend-svg' });

    for (const r of [0, 0.25, 0.5, 0.75, 1]) {
      const y = yRate(r);
      root.append(svg('line', { x1: m.left, x2: width - m.right, y1: y, y2: y, class: r === 0 ? 'axis' : 'gridline' }));
      root.append(svg('text', { x: m.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, `${r * 100}%`));
    }

    const points = [];
    days.forEach((day, i) => {
      const g = byDay[day];
      const volume = g ? g.tickets_with_target : 0;
      if (volume) {
        // Volumes use the lower half of the plot, so the compliance line stays readable above them.
        const h = Math.max(2, (plotH * 0.5 * volume) / maxVolume);
        const top = m.top + plotH - h;
        const bar = svg('rect', { x: x(i) - step * 0.28, y: top, width: step * 0.56, height: h, rx: 2, class: 'vol-bar' });
        bar.append(svg('title', {}, `${day}：有目标工单 ${volume}`));
        root.append(bar);
        root.append(svg('text', { x: x(i), y: top - 3, class: 'vol-label', 'text-anchor': 'middle' }, volume));
      }
      if (i % 2 === (days.length - 1) % 2) {
        const label = day === today ? '今日' : `${day.slice(5, 7)}/${day.slice(8)}`;
        root.append(svg('text', { x: x(i), y: height - 7, class: day === today ? 'tick today' : 'tick', 'text-anchor': 'middle' }, label));
      }
      points.push(g && g.compliance_rate !== null && g.compliance_rate !== undefined ? [i, g] : null);
    });

    // Consecutive days are joined by a solid line; days without a verdict by a dashed one.
    let solid = '';
    let dashed = '';
    let previous = null;
    for (const p of points) {
      if (!p) continue;
      const here = `${x(p[0]).toFixed(1)},${yRate(p[1].compliance_rate).toFixed(1)}`;
      if (previous && previous.i === p[0] - 1) solid += `L${here}`;
      else solid += `M${here}`;
      if (previous && previous.i < p[0] - 1) dashed += `M${previous.at}L${here}`;
      previous = { i: p[0], at: here };
    }
    if (dashed) root.append(svg('path', { d: dashed, class: 'rate-line gap' }));
    if (solid) root.append(svg('path', { d: solid, class: 'rate-line' }));
    for (const p of points) {
      if (!p) continue;
      const [i, g] = p;
      const dot = svg('circle', { cx: x(i), cy: yRate(g.compliance_rate), r: 3.5, class: 'rate-dot' });
      dot.append(svg('title', {}, `${days[i]}：达标率 ${pct(g.compliance_rate)}（达标 ${g.met} / 超时 ${g.breached} / 进行中 ${g.running}）`));
      root.append(dot);
    }
    if (!points.some(Boolean)) {
      root.append(svg('text', { x: m.left + plotW / 2, y: m.top + plotH / 2, class: 'empty-note', 'text-anchor': 'middle' }, '暂无已判定的首响数据'));
    }
    box.replaceChildren(root);
  }

  function renderKeywords(keywords) {
    const list = $('keyword-list');
    $('keyword-period').textContent = `${PERIODS[state.period].label} · 投诉工单标题`;
    if (!keywords.length) {
      list.replaceChildren(el('li', 'empty-row', '暂无投诉'));
      return;
    }
    const most = Math.max(1, ...keywords.map((k) => k.messages));
    list.replaceChildren(
      ...keywords.map((k, i) => {
        const item = el('li', 'keyword');
        item.append(el('span', 'kw-rank', i + 1), el('span', 'kw-word', k.keyword));
        const bar = el('span', 'kw-bar');
        const fill = el('span', 'kw-fill');
        fill.style.width = `${Math.round((100 * k.messages) / most)}%`;
        bar.append(fill);
        item.append(bar, el('span', 'kw-count', `${k.messages} 条`));
        return item;
      }),
    );
  }

  // ------------------------------------------------------------------ live: queues, breached and at-risk tickets

  async function loadLive() {
    const [queues, breached, atRisk] = await Promise.all([
      api('/queues'),
      api(`/tickets?sla=breached&limit=${LIST_LIMIT}`),
      api(`/tickets?sla=at_risk&limit=${LIST_LIMIT}`),
    ]);
    const receivedAt = Date.now();
    state.queues = new Map(queues.map((q) => [q.id, q.name]));
    for (const ticket of [...breached.items, ...atRisk.items]) calibrate(ticket, receivedAt);
    renderQueues(queues);
    state.timers.clear();
    renderTickets('breached', breached, receivedAt);
    renderTickets('at_risk', atRisk, receivedAt);
    tick();
  }

  const refreshLive = throttled(loadLive, LIVE_GAP_MS);

  /** A running clock gives the server's "now" to the millisecond: due_at minus seconds_left. */
  function calibrate(ticket, receivedAt) {
    for (const metric of Object.keys(METRIC_NAMES)) {
      const c = ticket.sla[metric];
      if (c && c.seconds_left !== null && c.due_at) {
        state.skewMs = Date.parse(c.due_at) - c.seconds_left * 1000 - receivedAt;
        state.skewPrecise = true;
        return;
      }
    }
  }

  function renderQueues(queues) {
    let open = 0;
    const rows = queues.map((q) => {
      open += q.open;
      const row = el('tr');
      row.dataset.queue = q.id;
      row.append(el('th', 'queue-name', q.name));
      const cells = [
        ['open', q.open, ''],
        ['pending_customer', q.pending_customer, ''],
        ['at_risk', q.at_risk, 'warn'],
        ['breached', q.breached, 'danger'],
      ];
      for (const [key, value, tone] of cells) {
        const cell = el('td', 'num', value);
        cell.dataset.col = key;
        if (value === 0) cell.classList.add('zero');
        else if (tone) cell.classList.add(tone);
        row.append(cell);
      }
      return row;
    });
    if (!rows.length) {
      const cell = el('td', 'empty-row', '暂无队列');
      cell.colSpan = 5;
      rows.push(el('tr'));
      rows[0].append(cell);
    }
    $('queue-rows').replaceChildren(...rows);
    $('queue-total').textContent = `共 ${open} 张待处理`;
  }

  /** Which clock to show for a ticket, and how: a countdown, a running overdue time, or a fixed lateness. */
  function timerFor(ticket, kind, receivedAt) {
    const sla = ticket.sla;
    const metrics = Object.keys(METRIC_NAMES);
    if (kind === 'at_risk') {
      const warned = metrics
        .filter((m) => sla[m].state === 'warned' && sla[m].seconds_left !== null)
        .sort((a, b) => sla[a].seconds_left - sla[b].seconds_left);
      const metric = warned[0] || metrics.find((m) => sla[m].seconds_left !== null);
      if (!metric) return null;
      return { metric, mode: 'countdown', deadline: receivedAt + sla[metric].seconds_left * 1000, sort: sla[metric].seconds_left };
    }
    const owed = (m) => {
      if (m === 'first_response') return !ticket.first_response_at;
      if (m === 'next_response') return ticket.status === 'open';
      return true;
    };
    const breached = metrics.filter((m) => sla[m].state === 'breached' && sla[m].due_at);
    breached.sort((a, b) => (owed(b) - owed(a)) || Date.parse(sla[a].due_at) - Date.parse(sla[b].due_at));
    const metric = breached[0] || metrics.find((m) => sla[m].state === 'breached');
    if (!metric) return null;
    const due = sla[metric].due_at ? Date.parse(sla[metric].due_at) : null;
    if (due === null) return { metric, mode: 'static', text: '已超时', sort: Infinity };
    if (owed(metric)) {
      // Overdue and still owed: the overdue time keeps running (server time mapped to the browser's clock).
      return { metric, mode: 'overdue', deadline: due - state.skewMs, sort: due };
    }
    const late = metric === 'first_response' && ticket.first_response_at ? (Date.parse(ticket.first_response_at) - due) / 1000 : null;
    return {
      metric,
      mode: 'static',
      text: late !== null && late >= 0 ? `已超时 ${clock(late)}` : '已超时',
      note: metric === 'first_response' ? '已响应' : '已处理',
      sort: Number.MAX_SAFE_INTEGER - due,
    };
  }

  function renderTickets(kind, page, receivedAt) {
    const list = $(kind === 'breached' ? 'breached-list' : 'risk-list');
    const count = $(kind === 'breached' ? 'breached-count' : 'risk-count');
    const entries = page.items.map((ticket) => ({ ticket, timer: timerFor(ticket, kind, receivedAt) }));
    entries.sort((a, b) => (a.timer ? a.timer.sort : Infinity) - (b.timer ? b.timer.sort : Infinity) || a.ticket.id - b.ticket.id);
    count.textContent = page.next_cursor ? `${page.items.length}+` : String(page.items.length);
    count.classList.toggle('zero', page.items.length === 0);
    if (!entries.length) {
      list.replaceChildren(el('li', 'empty-row', kind === 'breached' ? '没有超时工单' : '没有即将超时的工单'));
      return;
    }
    list.replaceChildren(...entries.map((e) => ticketItem(e.ticket, e.timer, kind)));
  }

  function ticketItem(ticket, timer, kind) {
    const item = el('li', `ticket ${kind === 'breached' ? 'is-breached' : 'is-risk'}`);
    item.dataset.ticketId = String(ticket.id);
    const top = el('div', 'ticket-top');
    top.append(el('span', 'ticket-id', `#${ticket.id}`));
    top.append(el('span', `tag ch-${ticket.channel}`, CHANNEL_NAMES[ticket.channel] || ticket.channel));
    const queueName = state.queues.get(ticket.triage.queue) || ticket.triage.queue;
    top.append(el('span', 'tag', queueName));
    const priority = ticket.triage.priority;
    if (priority === 'urgent' || priority === 'high') top.append(el('span', `tag prio-${priority}`, PRIORITY_NAMES[priority]));
    if (ticket.escalation_level > 0) top.append(el('span', 'tag prio-urgent', `升级 L${ticket.escalation_level}`));
    const timerNode = el('span', 'timer');
    timerNode.dataset.role = 'timer';
    if (timer && (timer.mode === 'countdown' || timer.mode === 'overdue')) {
      state.timers.set(timerNode, timer);
    } else {
      timerNode.textContent = timer ? timer.text : '—';
      timerNode.classList.add('danger', 'frozen');
    }
    top.append(timerNode);
    item.append(top);

    const subject = el('div', 'ticket-subject', ticket.subject);
    subject.title = ticket.subject;
    item.append(subject);

    const meta = [];
    if (timer) {
      const clockInfo = ticket.sla[timer.metric];
      meta.push(`${METRIC_NAMES[timer.metric]} · 目标 ${target(clockInfo.target_seconds)}`);
      if (timer.note) meta.push(timer.note);
    }
    meta.push(STATUS_NAMES[ticket.status] || ticket.status);
    meta.push(ticket.assignee_id ? `客服 #${ticket.assignee_id}` : '未分配');
    meta.push(`创建 ${localTime(ticket.created_at)}`);
    item.append(el('div', 'ticket-meta', meta.join(' · ')));
    return item;
  }

  /** Every second: redraw the countdowns from their deadlines (no request). */
  function tick() {
    const now = Date.now();
    for (const [node, timer] of state.timers) {
      if (!node.isConnected) {
        state.timers.delete(node);
        continue;
      }
      let text;
      let tone;
      if (timer.mode === 'countdown' && timer.deadline > now) {
        text = `剩余 ${clock(Math.ceil((timer.deadline - now) / 1000))}`;
        tone = 'warn';
      } else {
        text = `已超时 ${clock((now - timer.deadline) / 1000)}`;
        tone = 'danger';
      }
      if (node.textContent !== text) node.textContent = text;
      node.classList.toggle('warn', tone === 'warn');
      node.classList.toggle('danger', tone === 'danger');
    }
  }

  // ------------------------------------------------------------------ event stream

  function setStream(status) {
    const labels = { connecting: '正在连接…', live: '实时更新中', reconnecting: '连接中断，正在重连…' };
    $('stream-status').dataset.state = status;
    $('stream-text').textContent = labels[status];
  }

  async function runStream(generation) {
    let backoff = 1000;
    setStream('connecting');
    while (generation === state.generation) {
      const controller = new AbortController();
      state.streamController = controller;
      let idle = null;
      const kick = () => {
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
      };
      try {
        const headers = { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' };
        if (state.lastEventId !== null) headers['Last-Event-ID'] = state.lastEventId;
        kick();
        const response = await fetch(`${API}/events/stream?type=${encodeURIComponent(STREAM_TYPES)}`, {
          headers,
          cache: 'no-store',
          signal: controller.signal,
        });
        if (response.status === 401 || response.status === 403) {
          if (generation === state.generation) failed(new ApiError(response.status, ''));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        backoff = 1000;
        await readEvents(response.body, generation, kick);
      } catch (_) {
        /* dropped, refused or idle: reconnect below */
      } finally {
        clearTimeout(idle);
      }
      if (generation !== state.generation) return;
      setStream('reconnecting');
      await sleep(backoff + Math.random() * 250);
      backoff = Math.min(backoff * 2, 15000);
    }
  }

  /** Parse text/event-stream (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
  async function readEvents(body, generation, kick) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = '';
    let data = [];
    let id = null;
    const dispatch = () => {
      if (id !== null) state.lastEventId = id;
      if (data.length) {
        try {
          onEvent(type || 'message', JSON.parse(data.join('\n')));
        } catch (error) {
          console.warn('event stream: unreadable event', error);
        }
      }
      type = '';
      data = [];
      id = null;
    };
    const line = (text) => {
      if (text === '') return dispatch();
      if (text.startsWith(':')) {
        if (text.slice(1).trim() === 'connected') onConnected();
        return undefined;
      }
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
      return undefined;
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || generation !== state.generation) return;
        kick();
        buffer += value;
        for (;;) {
          const match = /\r\n|\n|\r/.exec(buffer);
          if (!match) break;
          if (match[0] === '\r' && match.index === buffer.length - 1) break; // maybe half of \r\n
          line(buffer.slice(0, match.index));
          buffer = buffer.slice(match.index + match[0].length);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  function onConnected() {
    setStream('live');
    // Whatever happened before this subscription (or while disconnected) is in a fresh load.
    refreshLive(true);
  }

  function onEvent(type, event) {
    if (type.startsWith('sla.') || type.startsWith('ticket.')) {
      refreshLive();
      refreshReports();
    }
    if (EVENT_NAMES[type]) addFeed(type, event);
  }

  function addFeed(type, event) {
    const list = $('feed-list');
    const empty = list.querySelector('.empty-row');
    if (empty) empty.remove();
    const item = el('li', 'feed-item');
    item.dataset.type = type;
    item.dataset.ticketId = String(event.ticket_id);
    item.append(el('span', 'feed-time', event.created_at ? localTime(event.created_at) : ''));
    item.append(el('span', `feed-type ${EVENT_TONE[type] || ''}`, EVENT_NAMES[type]));
    const text = el('span', 'feed-text');
    text.append(el('span', 'ticket-id', `#${event.ticket_id}`));
    if (event.channel) text.append(el('span', 'feed-channel', CHANNEL_NAMES[event.channel] || event.channel));
    if (type.startsWith('sla.') && event.details && event.details.metric) {
      text.append(el('span', 'feed-channel', METRIC_NAMES[event.details.metric] || event.details.metric));
    }
    text.append(el('span', 'feed-subject', event.subject || ''));
    text.title = event.subject || '';
    item.append(text);
    list.prepend(item);
    while (list.children.length > FEED_MAX) list.lastElementChild.remove();
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('logout-button').addEventListener('click', () => logout('已退出登录。'));
    $('refresh-button').addEventListener('click', () => {
      refreshReports(true);
      refreshLive(true);
    });
    for (const button of document.querySelectorAll('[data-period]')) {
      button.addEventListener('click', () => {
        state.period = button.dataset.period;
        for (const other of document.querySelectorAll('[data-period]')) {
          other.setAttribute('aria-pressed', String(other === button));
        }
        refreshReports(true);
      });
    }
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(renderTrend, 150);
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (!saved) {
      showLogin('');
      return;
    }
    verify(saved).then(
      (offset) => start(saved, offset),
      (error) => {
        if (error.status === 401 || error.status === 403) sessionStorage.removeItem(TOKEN_KEY);
        showLogin(loginMessage(error));
      },
    );
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
