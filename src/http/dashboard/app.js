// frontdesk dashboard. Everything a caller says (and every other value from
// the server) reaches the page through textContent / text nodes, never as
// HTML: see el().
'use strict';

const $ = (id) => document.getElementById(id);

/** An element with text children; strings become text nodes, never HTML. */
function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function timeOf(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function dateTimeOf(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function ms(v) {
  return v === null || v === undefined ? '–' : `${Math.round(v)} ms`;
}

/** GET or POST JSON; a 401 sends the browser back to the login form. */
async function api(path, options) {
  const resp = await fetch(path, Object.assign({ credentials: 'same-origin' }, options || {}));
  if (resp.status === 401) {
    window.location.assign('/dashboard');
    throw new Error('logged out');
  }
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  return { status: resp.status, body };
}

const ROLE = { user: 'Caller', assistant: 'Receptionist', tool: 'Tool' };

// ---------------------------------------------------------------- live calls
/** Live calls by CallSid: { info, turns: [], ledger: [], node }. */
const live = new Map();
let today = null;

function callHead(info) {
  const who = info.direction === 'outbound' ? info.to : info.from;
  return el('div', 'call-head',
    el('span', 'who', who || 'unknown number'),
    el('span', 'dir', info.direction === 'outbound' ? 'outbound' : 'inbound'),
    el('span', 'status', info.status || ''),
    el('span', 'since', `since ${timeOf(info.started_at)}`));
}

function turnItem(turn) {
  const li = el('li', turn.role, el('span', 'role', ROLE[turn.role] || turn.role), turn.content);
  if (turn.confidence !== undefined && turn.confidence !== null) {
    li.title = `confidence ${turn.confidence}`;
  }
  return li;
}

function ledgerSummary(ledger) {
  if (!ledger || !ledger.length) return null;
  const totals = ledger.map((t) => t.total_ms).sort((a, b) => a - b);
  const p50 = totals[Math.floor((totals.length - 1) / 2)];
  const max = totals[totals.length - 1];
  const holds = ledger.filter((t) => t.held).length;
  return `${ledger.length} turns · p50 ${ms(p50)} · max ${ms(max)}${holds ? ` · ${holds} held` : ''}`;
}

function renderCall(sid) {
  const c = live.get(sid);
  if (!c) return;
  if (!c.node) {
    c.node = el('article', 'call');
    c.node.dataset.callSid = sid;
    c.list = el('ol', 'transcript');
    c.summary = el('div', 'summary');
    c.head = callHead(c.info);
    c.node.append(c.head, c.list, c.summary);
    $('live-calls').prepend(c.node);
  } else {
    const head = callHead(c.info);
    c.node.replaceChild(head, c.head);
    c.head = head;
  }
  c.summary.textContent = ledgerSummary(c.ledger) || '';
  updateLiveCount();
}

function renderTurn(sid, index) {
  const c = live.get(sid);
  const turn = c && c.turns[index];
  if (!turn) return;
  const item = turnItem(turn);
  item.dataset.index = index;
  // Entries arrive in order; a repeat (after a snapshot) replaces its line.
  const existing = c.list.querySelector(`li[data-index="${index}"]`);
  if (existing) {
    c.list.replaceChild(item, existing);
  } else {
    const later = [...c.list.children].find((li) => Number(li.dataset.index) > index);
    c.list.insertBefore(item, later || null);
  }
  c.list.scrollTop = c.list.scrollHeight;
}

function updateLiveCount() {
  $('live-count').textContent = String(live.size);
  $('live-empty').hidden = live.size > 0;
}

function upsertCall(info) {
  let c = live.get(info.call_sid);
  if (!c) {
    c = { info, turns: [], ledger: [], node: null };
    live.set(info.call_sid, c);
  } else {
    c.info = Object.assign(c.info, info);
  }
  renderCall(info.call_sid);
  return c;
}

function onSnapshot(data) {
  today = data.today;
  live.clear();
  clear($('live-calls'));
  for (const call of data.calls) {
    const c = upsertCall(call);
    c.turns = call.conversation_history || [];
    c.ledger = call.ledger || [];
    c.turns.forEach((_, i) => renderTurn(call.call_sid, i));
    renderCall(call.call_sid);
  }
  updateLiveCount();
  loadAppointments();
}

function onSaid(data) {
  const c = live.get(data.call_sid) || upsertCall({ call_sid: data.call_sid });
  c.turns[data.index] = data.turn;
  renderTurn(data.call_sid, data.index);
  if (data.turn.role !== 'user') scheduleAppointments();
  if (data.turn.tool && data.turn.tool.name === 'take_message') loadMessages();
}

function onLedger(data) {
  const c = live.get(data.call_sid);
  if (!c) return;
  c.ledger.push(data.entry);
  renderCall(data.call_sid);
}

function onEnded(data) {
  const c = live.get(data.call_sid);
  if (c && c.node) c.node.remove();
  live.delete(data.call_sid);
  updateLiveCount();
  loadLog();
  loadMessages();
  scheduleAppointments();
}

function connectFeed() {
  const state = $('feed-state');
  const source = new EventSource('/dashboard/events');
  const on = (type, f) => source.addEventListener(type, (e) => f(JSON.parse(e.data)));
  on('snapshot', onSnapshot);
  on('call', upsertCall);
  on('said', onSaid);
  on('ledger', onLedger);
  on('ended', onEnded);
  source.onopen = () => { state.textContent = 'live'; state.classList.add('live'); };
  source.onerror = () => {
    state.textContent = 'reconnecting…';
    state.classList.remove('live');
    // A failed connection may mean the login expired: api() sends the
    // browser back to the login form on a 401.
    api('/sessions').catch(() => {});
  };
}

// -------------------------------------------------------------- appointments
let range = 'today';
let appointmentTimer = null;

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function scheduleAppointments() {
  clearTimeout(appointmentTimer);
  appointmentTimer = setTimeout(loadAppointments, 300);
}

async function loadAppointments() {
  if (!today) return;
  const last = range === 'today' ? today : addDays(today, 6);
  const { status, body } = await api(`/appointments?from=${today}&to=${last}`);
  const list = $('appointment-list');
  clear(list);
  if (status !== 200 || !body) {
    list.append(el('p', 'error', (body && body.error) || 'The calendar could not be read.'));
    return;
  }
  if (!body.appointments.length) {
    list.append(el('p', 'empty', range === 'today' ? 'Nothing booked today.' : 'Nothing booked this week.'));
    return;
  }
  let day = null;
  let rows = null;
  for (const a of body.appointments) {
    const d = a.start.slice(0, 10);
    if (d !== day) {
      day = d;
      const label = new Date(`${d}T12:00:00Z`).toLocaleDateString([], { weekday: 'long', month: 'short', day: 'numeric', timeZone: 'UTC' });
      list.append(el('h3', null, d === today ? `Today, ${label}` : label));
      rows = el('ul', 'rows appointments');
      list.append(rows);
    }
    rows.append(el('li', null,
      el('span', 'time', `${a.start.slice(11, 16)}–${a.end.slice(11, 16)}`),
      el('span', 'name', a.name),
      a.phone ? el('span', 'muted', a.phone) : null,
      a.reason ? el('span', 'muted', a.reason) : null));
  }
}

// ------------------------------------------------------------------ call log
async function loadLog(event) {
  if (event) event.preventDefault();
  const form = $('log-form');
  const params = new URLSearchParams({ include_ended: 'true', limit: '50' });
  const number = form.number.value.trim();
  if (number) params.set('number', number);
  if (form.date.value) params.set('date', form.date.value);
  const { status, body } = await api(`/sessions?${params}`);
  const list = $('log-list');
  clear(list);
  if (status !== 200 || !body) {
    list.append(el('li', 'error', (body && body.error) || 'The call log could not be read.'));
    return;
  }
  const calls = Object.entries(body.sessions)
    .filter(([, s]) => s.ended_at)
    .sort((a, b) => (a[1].started_at < b[1].started_at ? 1 : -1));
  if (!calls.length) {
    list.append(el('li', 'empty', number || form.date.value ? 'No calls match.' : 'No calls yet.'));
    return;
  }
  for (const [sid, s] of calls) {
    const li = el('li', 'pick',
      el('span', 'time', dateTimeOf(s.started_at)),
      el('span', null, s.direction === 'outbound' ? `to ${s.to || '?'}` : `from ${s.from || '?'}`),
      el('span', 'muted', s.status),
      el('span', 'muted', `${s.message_count} entries`));
    li.dataset.callSid = sid;
    li.addEventListener('click', () => showCall(sid));
    list.append(li);
  }
}

async function showCall(sid) {
  const box = $('call-detail');
  const { status, body } = await api(`/session/${encodeURIComponent(sid)}`);
  clear(box);
  box.hidden = false;
  if (status !== 200 || !body) {
    box.append(el('p', 'error', (body && body.error) || 'The call could not be read.'));
    return;
  }
  box.append(el('h3', null, `${body.direction} call, ${dateTimeOf(body.started_at)} (${body.end_reason || body.status})`));
  const list = el('ol', 'transcript');
  body.conversation_history.forEach((t) => list.append(turnItem(t)));
  box.append(list);
  if (body.ledger && body.ledger.length) {
    box.append(el('p', 'summary', ledgerSummary(body.ledger)));
    const table = el('table', 'ledger',
      el('thead', null, el('tr', null,
        el('th', null, 'turn at'), el('th', null, 'agent'), el('th', null, 'model'),
        el('th', null, 'tools'), el('th', null, 'started early'), el('th', null, 'hold'),
        el('th', null, 'answered'))));
    const tbody = el('tbody');
    for (const t of body.ledger) {
      tbody.append(el('tr', null,
        el('td', null, timeOf(t.received_at)), el('td', null, ms(t.agent_ms)),
        el('td', null, `${ms(t.llm_ms)}${t.llm_requests ? ` (${t.llm_requests})` : ''}`),
        el('td', null, `${ms(t.tool_ms)}${t.tool_calls ? ` (${t.tool_calls})` : ''}`),
        el('td', null, `${t.speculative ? `${ms(t.head_start_ms)} ahead` : ''}${
          t.speculations_dropped ? ` (${t.speculations_dropped} dropped)` : ''}`),
        el('td', null, t.held ? 'yes' : ''), el('td', null, ms(t.total_ms))));
    }
    table.append(tbody);
    box.append(table);
  }
}

// ------------------------------------------------------------------ messages
async function loadMessages() {
  const list = $('message-list');
  let result;
  try {
    result = await api('/messages');
  } catch (_) {
    return;
  }
  clear(list);
  const messages = result.status === 200 && result.body ? result.body.messages || [] : [];
  if (!messages.length) {
    list.append(el('p', 'empty', 'No messages taken yet.'));
    return;
  }
  const rows = el('ul', 'rows');
  for (const m of messages) {
    rows.append(el('li', null,
      el('span', 'time', dateTimeOf(m.taken_at)),
      el('span', 'name', m.name || 'unknown caller'),
      el('span', null, m.message),
      el('span', 'muted', m.callback_number || m.caller_number || '')));
  }
  list.append(rows);
}

// ------------------------------------------------------------ placing a call
async function placeCall(event) {
  event.preventDefault();
  const form = event.target;
  const out = $('call-result');
  out.className = '';
  out.textContent = 'Calling…';
  const payload = { to_number: form.to_number.value.trim() };
  if (form.initial_message.value.trim()) payload.initial_message = form.initial_message.value.trim();
  const { status, body } = await api('/make-call', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  });
  if (status === 200 && body) {
    out.textContent = `Calling ${body.to} (${body.call_sid}), ${body.status}.`;
    form.reset();
  } else {
    out.className = 'error';
    out.textContent = (body && (body.message || body.error)) || `The call could not be placed (HTTP ${status}).`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('.tabs button')) {
    b.addEventListener('click', () => {
      range = b.dataset.range;
      for (const o of document.querySelectorAll('.tabs button')) o.classList.toggle('on', o === b);
      loadAppointments();
    });
  }
  $('call-form').addEventListener('submit', placeCall);
  $('log-form').addEventListener('submit', loadLog);
  connectFeed();
  loadLog();
  loadMessages();
});
