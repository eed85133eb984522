// Sluice console: plain JavaScript, no framework, no build step. A hash
// router renders one page at a time into <main>; every page reads the JSON
// API under /console/api/ (and the plugin admin API) with fetch().
'use strict';

const API = '/console/api';
let adminBase = '/admin';
let timers = [];      // intervals of the current page, cleared on navigation
let aborters = [];    // live tails of the current page
let renderSeq = 0;    // a page render that finished after navigation is dropped

// ---------- credentials ----------
// Kept in sessionStorage (this tab only, gone when it closes) and sent as
// the Authorization header: the admin guard checks HTTP Basic (SCRAM users)
// or a bearer token on every API call.
function authHeader() { return sessionStorage.getItem('sluice.auth') || ''; }
function setAuth(v) { if (v) sessionStorage.setItem('sluice.auth', v); else sessionStorage.removeItem('sluice.auth'); }

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body, opts = {}) {
  const headers = {};
  const a = authHeader();
  if (a) headers['Authorization'] = a;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    headers['Content-Type'] = 'application/wasm';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    const url = path.startsWith('/console/') || (adminBase && path.startsWith(adminBase + '/')) ? path : API + path;
    resp = await fetch(url, { method, headers, body: payload, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'Cannot reach the broker: ' + e.message);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    const msg = (data && data.error) || text || resp.statusText;
    if (resp.status === 401 && !opts.noLogin) {
      setAuth('');
      location.hash = '#/login?next=' + encodeURIComponent(location.hash.replace(/^#/, '') || '/');
    }
    throw new APIError(resp.status, msg);
  }
  return data;
}

// ---------- DOM helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);

// swap replaces a container's children on a periodic refresh without
// losing the keyboard focus: the focused control is found again in the new
// content by its tag and identity (link target, data key, id or label).
function swap(container, ...children) {
  const a = document.activeElement;
  const key = el => [el.tagName, el.id, el.getAttribute('href'), el.dataset.remove, el.dataset.delete, el.textContent].join('|');
  const k = a && container.contains(a) && a !== container ? key(a) : null;
  container.replaceChildren(...children);
  if (k) for (const el of container.querySelectorAll(a.tagName)) if (key(el) === k) { el.focus(); break; }
}

function every(ms, fn) { timers.push(setInterval(fn, ms)); }

function toast(msg, bad) {
  const d = h('div', { class: bad ? 'bad' : '' }, msg);
  $('#toast').append(d);
  setTimeout(() => d.remove(), bad ? 8000 : 4000);
}

function errorBox(e) { return h('div', { class: 'error', role: 'alert' }, e.message || String(e)); }

function confirmAction(text, okLabel = 'Confirm') {
  const dlg = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  return new Promise(resolve => {
    // A dialog's close event is queued, not dispatched at once: the one of
    // a dismissal just before (Escape) can arrive after this showModal.
    // It finds the dialog open again and is not this dialog's answer.
    const onClose = () => {
      if (dlg.open) return;
      dlg.removeEventListener('close', onClose);
      resolve(dlg.returnValue === 'ok');
    };
    dlg.addEventListener('close', onClose);
    dlg.returnValue = '';
    dlg.showModal();
    $('#confirm-cancel').focus();
  });
}

function fmtBytes(n) {
  if (n < 0 || n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}
function fmtNum(n) { return Number(n).toLocaleString('en-US'); }
function fmtRate(n, unit) { return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + ' ' + unit + '/s'; }
function fmtTime(ms) { return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC'); }

function table(cols, rows, empty) {
  if (!rows.length) return h('div', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, cols.map(c => h('th', { class: c.num ? 'num' : '', scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: c.num ? 'num' : '' }, c.get(r)))))));
}

// ---------- charts: hand-drawn SVG ----------
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// lineChart draws one or two series of {t, v} points (the newest last);
// fmt formats the axis values. It is redrawn whole on every sample. The
// svg carries what it plots as data attributes (data-points: samples of
// the first series, data-last: its newest value, plus any in data), for
// scripts and tests that read the chart rather than look at it.
function lineChart(label, series, fmt, data = {}) {
  const W = 900, H = 170, L = 60, B = 18;
  const all = series.flat();
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  const first = series[0] || [];
  svg.dataset.points = String(first.length);
  if (first.length) svg.dataset.last = String(first[first.length - 1].v);
  for (const [k, v] of Object.entries(data)) if (v !== undefined && v !== null) svg.dataset[k] = String(v);
  if (all.length < 2) {
    svg.append(s('text', { x: L, y: H / 2 }, 'collecting samples…'));
    return svg;
  }
  const t0 = Math.min(...all.map(p => p.t)), t1 = Math.max(...all.map(p => p.t));
  let vmax = Math.max(...all.map(p => p.v), 1);
  vmax = niceMax(vmax);
  const x = t => L + (W - L - 8) * (t1 === t0 ? 1 : (t - t0) / (t1 - t0));
  const y = v => 6 + (H - B - 6) * (1 - v / vmax);
  for (const f of [0, 0.5, 1]) {
    svg.append(s('line', { class: 'grid', x1: L, x2: W - 8, y1: y(vmax * f), y2: y(vmax * f) }));
    svg.append(s('text', { x: 2, y: y(vmax * f) + 4 }, fmt(vmax * f)));
  }
  svg.append(s('text', { x: L, y: H - 3 }, Math.round((t1 - t0) / 1000) + ' s ago'));
  svg.append(s('text', { x: W - 40, y: H - 3 }, 'now'));
  series.forEach((pts, i) => {
    if (pts.length < 2) return;
    const d = pts.map(p => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    if (i === 0) svg.append(s('polygon', { class: 'area', points: `${x(pts[0].t)},${y(0)} ${d} ${x(pts[pts.length - 1].t)},${y(0)}` }));
    svg.append(s('polyline', { class: i === 0 ? 'line' : 'line2', points: d }));
  });
  return svg;
}
function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function pushSample(arr, v, keep = 120) {
  arr.push({ t: Date.now(), v });
  if (arr.length > keep) arr.shift();
}

// ---------- router ----------
const routes = [
  [/^\/?$/, overviewPage],
  [/^\/login$/, loginPage],
  [/^\/topics$/, topicsPage],
  [/^\/topics\/(.+)$/, topicPage],
  [/^\/groups$/, groupsPage],
  [/^\/groups\/(.+)$/, groupPage],
  [/^\/plugins$/, pluginsPage],
];

async function route() {
  timers.forEach(clearInterval); timers = [];
  aborters.forEach(a => a.abort()); aborters = [];
  const seq = ++renderSeq;
  const full = location.hash.replace(/^#/, '') || '/';
  const [path, query] = full.split('?');
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    const cur = target === '/' ? path === '/' : path.startsWith(target);
    if (cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const main = $('#main');
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const root = h('div', {});
    try {
      await page(root, params, ...m.slice(1).map(decodeURIComponent));
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.status === 401) return; // the login page is on its way
      root.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(e));
    }
    if (seq !== renderSeq) return;
    main.replaceChildren(root);
    document.title = (root.querySelector('h1')?.textContent || 'Console') + ' · Sluice';
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No console page at ', h('code', {}, path), '. ', h('a', { href: '#/' }, 'Go to the overview')));
}

async function whoami() {
  const who = await api('GET', '/whoami', undefined, { noLogin: true });
  adminBase = who.admin_base || '';
  $('#who').textContent = who.principal;
  $('#logout').hidden = who.auth === 'none';
  return who;
}

// ---------- login ----------
async function loginPage(root, params) {
  const next = params.get('next') || '/';
  const err = h('div', {});
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password' });
  const token = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off' });
  const form = h('form', { class: 'panel login', id: 'login-form', onsubmit: async ev => {
    ev.preventDefault();
    err.replaceChildren();
    if (token.value) setAuth('Bearer ' + token.value.trim());
    else setAuth('Basic ' + btoa(unescape(encodeURIComponent(user.value + ':' + pass.value))));
    try {
      await whoami();
      location.hash = '#' + next;
    } catch (e) {
      setAuth('');
      err.replaceChildren(errorBox(e.status === 401 ? new Error('Login failed: ' + e.message) : e));
    }
  } },
    h('h1', {}, 'Log in to Sluice'),
    h('p', { class: 'muted' }, 'Use an administrator\'s user name and password (the broker\'s SCRAM users), or an admin token.'),
    h('label', { for: 'login-user' }, 'User name', user),
    h('label', { for: 'login-password' }, 'Password', pass),
    h('details', {}, h('summary', {}, 'Use an admin token instead'), h('label', { for: 'login-token' }, 'Admin token', token)),
    err,
    h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in'));
  token.addEventListener('input', () => { user.required = !token.value; });
  root.append(form);
  $('#who').textContent = '';
  $('#logout').hidden = true;
  setTimeout(() => user.focus(), 0);
}

// ---------- overview ----------
const throughput = { bytes: [], msgs: [] };

async function overviewPage(root) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Overview'), body);
  const draw = async () => {
    const o = await api('GET', '/overview');
    let plugins = null, pluginErr = null;
    if (adminBase) {
      try { plugins = (await api('GET', adminBase + '/plugins')).plugins || []; } catch (e) { pluginErr = e; }
    }
    if (o.throughput.known) {
      pushSample(throughput.bytes, o.throughput.bytes_in_per_sec);
      pushSample(throughput.msgs, o.throughput.messages_in_per_sec);
    }
    const up = o.brokers.filter(b => b.up).length;
    // The rates are the cluster's: every live broker's leader replicas.
    const th = o.throughput;
    const scope = !th.known ? 'cluster, live' : th.brokers < th.brokers_live ? `cluster, live (${th.brokers} of ${th.brokers_live} brokers answered)` : `cluster (${th.brokers} broker${th.brokers === 1 ? '' : 's'}), live`;
    swap(body,
      h('div', { class: 'cards' },
        card('Brokers up', `${up} / ${o.brokers.length}`, up < o.brokers.length ? 'bad' : ''),
        card('Partitions', fmtNum(o.partitions.total), '', `${o.topics} topics`),
        card('Under-replicated', fmtNum(o.partitions.under_replicated), o.partitions.under_replicated ? 'warn' : '', 'partitions', 'urp'),
        card('Offline', fmtNum(o.partitions.offline), o.partitions.offline ? 'bad' : '', 'partitions', 'offline'),
        card('Bytes in', o.throughput.known ? fmtBytes(o.throughput.bytes_in_per_sec) + '/s' : '…', '', scope, 'bytes-in'),
        card('Messages in', o.throughput.known ? fmtRate(o.throughput.messages_in_per_sec, 'msg') : '…', '', scope, 'msgs-in'),
        o.throughput.bytes_out_per_sec !== undefined ? card('Bytes out', fmtBytes(o.throughput.bytes_out_per_sec) + '/s', '', 'this broker, live', 'bytes-out') : '',
        card('Plugins deployed', plugins ? String(plugins.length) : '—', '', plugins ? h('a', { href: '#/plugins' }, 'manage') : 'admin API not on this listener', 'plugins')),
      h('section', { class: 'panel' }, h('h2', {}, 'Throughput (cluster)'),
        h('p', { class: 'legend' }, h('span', { class: 'k1' }, '■ bytes in/s'), '  ', h('span', { class: 'k2' }, '■ messages in/s (scaled to the same chart)')),
        lineChart('bytes in per second', [throughput.bytes, scaleTo(throughput.msgs, throughput.bytes)], v => fmtBytes(v),
          { chart: 'throughput', windowMessages: th.window?.messages_in, windowBytes: th.window?.bytes_in })),
      h('h2', {}, 'Brokers'),
      table([
        { label: 'ID', get: b => String(b.id) + (b.id === o.this_broker ? ' (this one)' : '') },
        { label: 'Address', get: b => b.host ? `${b.host}:${b.port}` : '—' },
        { label: 'Rack', get: b => b.rack || '—' },
        { label: 'Status', get: b => h('span', { class: 'badge ' + (b.up ? 'ok' : 'bad') }, b.up ? 'up' : 'down') },
        { label: 'Controller', get: b => b.controller ? h('span', { class: 'badge ok' }, 'controller') : '' },
      ], o.brokers, 'No brokers are registered.'),
      h('p', { class: 'muted' }, 'Cluster ', h('code', {}, o.cluster_id || '—')),
      pluginErr ? errorBox(new Error('Plugins: ' + pluginErr.message)) : '');
  };
  await draw();
  every(2000, () => draw().catch(e => toast(e.message, true)));
}
function scaleTo(pts, ref) {
  const m1 = Math.max(1, ...pts.map(p => p.v)), m2 = Math.max(1, ...ref.map(p => p.v));
  return pts.map(p => ({ t: p.t, v: p.v * m2 / m1 }));
}
function card(label, value, cls, sub, id) {
  return h('div', { class: 'card', id: id ? 'card-' + id : undefined },
    h('div', { class: 'label' }, label),
    h('div', { class: 'big' + (cls ? ' ' + cls : '') }, cls ? h('span', { class: 'badge ' + cls }, value) : value),
    sub ? h('div', { class: 'label' }, sub) : '');
}

// ---------- topics ----------
async function topicsPage(root, params) {
  const showInternal = params.get('internal') === '1';
  const list = h('div', {});
  const render = async () => {
    const { topics } = await api('GET', '/topics');
    const rows = topics.filter(t => showInternal || !t.internal);
    swap(list, table([
      { label: 'Topic', get: t => h('a', { href: '#/topics/' + encodeURIComponent(t.name), class: 'topic-link' }, t.name) },
      { label: 'Partitions', num: true, get: t => String(t.partitions) },
      { label: 'Replication', num: true, get: t => String(t.replication_factor) },
      { label: 'Health', get: t => t.offline ? h('span', { class: 'badge bad' }, `${t.offline} offline`) : t.under_replicated ? h('span', { class: 'badge warn' }, `${t.under_replicated} under-replicated`) : h('span', { class: 'badge ok' }, 'ok') },
      { label: 'Messages', num: true, get: t => fmtNum(t.messages) },
      { label: 'Size on disk', num: true, get: t => fmtBytes(t.size_bytes) },
      { label: 'Messages in', num: true, get: t => fmtRate(t.messages_in_per_sec, 'msg') },
      { label: 'Configs set', get: t => Object.keys(t.configs || {}).length ? h('code', { class: 'configs' }, Object.entries(t.configs).map(([k, v]) => `${k}=${v}`).join(', ')) : h('span', { class: 'muted' }, 'defaults') },
      { label: '', get: t => t.internal ? '' : h('button', { type: 'button', class: 'danger', 'data-delete': t.name, onclick: () => deleteTopic(t.name) }, 'Delete') },
    ], rows, showInternal ? 'No topics yet. Create one below.' : 'No topics yet (internal topics are hidden). Create one below.'));
  };
  const err = h('div', {});
  const name = h('input', { id: 'new-topic-name', required: true, pattern: '[a-zA-Z0-9._\\-]+', maxlength: 249 });
  const parts = h('input', { id: 'new-topic-partitions', type: 'number', min: 1, value: 1 });
  const rf = h('input', { id: 'new-topic-rf', type: 'number', min: 1, value: 1 });
  const cfgs = h('textarea', { id: 'new-topic-configs', placeholder: 'retention.ms=86400000' });
  root.append(
    h('h1', {}, 'Topics'),
    h('div', { class: 'toolbar' },
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', id: 'show-internal', checked: showInternal, onchange: e => { location.hash = '#/topics' + (e.target.checked ? '?internal=1' : ''); } }), 'Show internal topics')),
    list,
    h('section', { class: 'panel' }, h('h2', {}, 'Create a topic'),
      h('form', { class: 'row', id: 'create-topic', onsubmit: async ev => {
        ev.preventDefault();
        err.replaceChildren();
        let configs;
        try { configs = parseKV(cfgs.value); } catch (e) { err.replaceChildren(errorBox(e)); return; }
        const req = { name: name.value.trim(), partitions: +parts.value, replication_factor: +rf.value, configs };
        if (!await confirmAction(`Create topic "${req.name}" with ${req.partitions} partition(s) and replication factor ${req.replication_factor}?`, 'Create')) return;
        try {
          await api('POST', '/topics', req);
          toast(`Topic ${req.name} created`);
          name.value = ''; cfgs.value = '';
          await render();
        } catch (e) { err.replaceChildren(errorBox(e)); }
      } },
        h('label', { for: 'new-topic-name' }, 'Name', name),
        h('label', { for: 'new-topic-partitions' }, 'Partitions', parts),
        h('label', { for: 'new-topic-rf' }, 'Replication factor', rf),
        h('label', { for: 'new-topic-configs' }, 'Configs (key=value per line, optional)', cfgs),
        h('button', { class: 'primary', type: 'submit' }, 'Create topic')),
      err));
  async function deleteTopic(t) {
    if (!await confirmAction(`Delete topic "${t}" and all its messages? This cannot be undone.`, 'Delete topic')) return;
    try { await api('DELETE', '/topics/' + encodeURIComponent(t)); toast(`Topic ${t} deleted`); await render(); }
    catch (e) { toast(e.message, true); }
  }
  await render();
  every(5000, () => render().catch(e => toast(e.message, true)));
}

function parseKV(text) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Error(`"${line}": want key=value`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

// ---------- topic detail ----------
async function topicPage(root, params, name) {
  const enc = encodeURIComponent(name);
  const t = await api('GET', '/topics/' + enc);
  const partsBox = h('div', {}), cfgBox = h('div', {});
  const drawParts = tt => swap(partsBox, table([
    { label: 'Partition', num: true, get: p => String(p.partition) },
    { label: 'Leader', num: true, get: p => p.leader < 0 ? h('span', { class: 'badge bad' }, 'offline') : String(p.leader) },
    { label: 'Replicas', get: p => p.replicas.join(', ') },
    { label: 'In sync', get: p => h('span', { class: 'badge ' + (p.isr.length < p.replicas.length ? 'warn' : 'ok') }, p.isr.join(', ') || 'none') },
    { label: 'Log start', num: true, get: p => fmtNum(p.log_start) },
    { label: 'Log end', num: true, get: p => fmtNum(p.log_end) },
    { label: 'Size', num: true, get: p => p.size_bytes < 0 ? 'not here' : fmtBytes(p.size_bytes) },
    { label: '', get: p => p.error ? h('span', { class: 'badge bad' }, p.error) : '' },
  ], tt.partitions, 'This topic has no partitions.'));
  const drawCfg = tt => swap(cfgBox, table([
    { label: 'Config', get: c => h('code', {}, c.name) },
    { label: 'Value', get: c => c.sensitive ? h('em', {}, 'hidden') : h('code', {}, c.value) },
    { label: 'Source', get: c => c.source === 'DYNAMIC_TOPIC_CONFIG' ? h('span', { class: 'badge ok' }, 'set on topic') : h('span', { class: 'muted' }, c.source.toLowerCase().replace(/_/g, ' ')) },
    { label: '', get: c => c.source === 'DYNAMIC_TOPIC_CONFIG' ? h('button', { type: 'button', onclick: () => alterConfig({ delete: [c.name] }, `Reset ${c.name} of "${name}" to its default?`) }, 'Reset') : '' },
  ], tt.configs, 'No configs reported.'));
  const refresh = async () => { const tt = await api('GET', '/topics/' + enc); drawParts(tt); drawCfg(tt); rate.textContent = fmtRate(tt.messages_in_per_sec, 'msg') + ', ' + fmtBytes(tt.bytes_in_per_sec) + '/s in'; return tt; };
  const rate = h('span', { id: 'topic-rate' }, fmtRate(t.messages_in_per_sec, 'msg'));
  const cfgErr = h('div', {});
  async function alterConfig(req, question) {
    cfgErr.replaceChildren();
    if (!await confirmAction(question, 'Apply')) return;
    try { await api('POST', `/topics/${enc}/configs`, req); toast('Configs changed'); await refresh(); }
    catch (e) { cfgErr.replaceChildren(errorBox(e)); }
  }
  const ck = h('input', { id: 'cfg-key', required: true, placeholder: 'retention.ms' }), cv = h('input', { id: 'cfg-value', required: true });
  const pc = h('input', { id: 'partition-count', type: 'number', min: t.partitions.length + 1, value: t.partitions.length + 1 });
  const partErr = h('div', {});

  root.append(
    h('p', {}, h('a', { href: '#/topics' }, '← Topics')),
    h('h1', {}, 'Topic ', h('code', {}, name), t.internal ? h('span', { class: 'badge warn' }, 'internal') : ''),
    h('p', { class: 'muted' }, `${t.partitions.length} partition(s), replication factor ${t.replication_factor}; live: `, rate),
    h('h2', {}, 'Partitions'), partsBox,
    h('form', { class: 'row', id: 'add-partitions', onsubmit: async ev => {
      ev.preventDefault(); partErr.replaceChildren();
      if (!await confirmAction(`Increase "${name}" to ${pc.value} partitions? Keys will map to different partitions from now on; partitions cannot be removed.`, 'Add partitions')) return;
      try { await api('POST', `/topics/${enc}/partitions`, { count: +pc.value }); toast('Partitions added'); await refresh(); }
      catch (e) { partErr.replaceChildren(errorBox(e)); }
    } }, h('label', { for: 'partition-count' }, 'New partition count', pc), h('button', { type: 'submit' }, 'Add partitions')),
    partErr,
    messageBrowser(name, t),
    h('h2', {}, 'Configs'), cfgBox,
    h('form', { class: 'row', id: 'set-config', onsubmit: ev => { ev.preventDefault(); alterConfig({ set: { [ck.value.trim()]: cv.value } }, `Set ${ck.value.trim()}=${cv.value} on "${name}"?`); } },
      h('label', { for: 'cfg-key' }, 'Config', ck), h('label', { for: 'cfg-value' }, 'Value', cv), h('button', { type: 'submit' }, 'Set config')),
    cfgErr);
  drawParts(t); drawCfg(t);
  every(5000, () => refresh().catch(e => toast(e.message, true)));
}

function dataView(d, label) {
  if (d === null || d === undefined) return h('span', { class: 'muted' }, 'null');
  let text = d.text, encName = d.encoding;
  if (d.encoding === 'json') { try { text = JSON.stringify(JSON.parse(d.text), null, 2); } catch (_) { /* shown as stored */ } }
  if (d.encoding === 'binary') text = d.text.replace(/(..)/g, '$1 ').trim();
  return h('div', {}, h('span', { class: 'enc' }, `${label} · ${encName} · ${fmtBytes(d.size)}${d.truncated ? ' · truncated' : ''}`), h('pre', { class: 'value' }, text));
}

function messageView(m) {
  return h('article', { class: 'msg', 'data-offset': m.offset, 'data-partition': m.partition },
    h('div', { class: 'meta' },
      h('span', {}, 'partition ', h('strong', {}, m.partition)), h('span', {}, 'offset ', h('strong', { class: 'offset' }, m.offset)),
      h('span', {}, fmtTime(m.timestamp)),
      h('span', {}, 'key: ', m.key ? h('code', { class: 'key' }, m.key.encoding === 'binary' ? '0x' + m.key.text : m.key.text) : h('em', {}, 'null'))),
    m.headers.length ? h('div', { class: 'headers' }, h('span', { class: 'enc' }, 'headers'), h('ul', {}, m.headers.map(hd => h('li', {}, h('code', {}, hd.key), ': ', hd.value ? (hd.value.encoding === 'binary' ? '0x' + hd.value.text : hd.value.text) : 'null')))) : '',
    dataView(m.value, 'value'));
}

function messageBrowser(name, t) {
  const enc = encodeURIComponent(name);
  const part = h('select', { id: 'browse-partition' }, t.partitions.map(p => h('option', { value: p.partition }, String(p.partition))));
  const mode = h('select', { id: 'browse-mode' }, h('option', { value: 'newest' }, 'Newest'), h('option', { value: 'offset' }, 'From offset'), h('option', { value: 'time' }, 'From time'));
  const off = h('input', { id: 'browse-offset', type: 'number', min: 0, value: 0 });
  const when = h('input', { id: 'browse-time', type: 'datetime-local' });
  const key = h('input', { id: 'browse-key', placeholder: 'part of the key' });
  const limit = h('input', { id: 'browse-limit', type: 'number', min: 1, max: 500, value: 50 });
  const out = h('div', { id: 'browse-results', 'aria-live': 'polite' });
  const status = h('p', { class: 'muted', id: 'browse-status' });
  let next = null;
  async function load(from) {
    const q = new URLSearchParams({ partition: part.value, limit: limit.value });
    if (key.value) q.set('key', key.value);
    if (from !== undefined) q.set('offset', from);
    else if (mode.value === 'offset') q.set('offset', off.value || '0');
    else if (mode.value === 'time') {
      if (!when.value) { out.replaceChildren(errorBox(new Error('Pick a date and time to start from.'))); return; }
      q.set('timestamp', String(new Date(when.value).getTime()));
    }
    try {
      const r = await api('GET', `/topics/${enc}/messages?${q}`);
      next = r.next_offset;
      status.textContent = `Partition ${r.partition}: offsets ${fmtNum(r.log_start)}–${fmtNum(Math.max(r.log_end - 1, r.log_start))} stored; read from ${fmtNum(r.from)}, ${r.scanned} scanned, ${r.messages.length} shown.`;
      const list = r.messages.length ? r.messages.map(messageView) : [h('div', { class: 'empty' }, r.from >= r.log_end ? 'No messages from there: that is the end of the partition.' : 'No messages match.')];
      if (from !== undefined) out.append(...list); else out.replaceChildren(...list);
      more.hidden = r.next_offset >= r.log_end;
    } catch (e) { out.replaceChildren(errorBox(e)); }
  }
  const more = h('button', { type: 'button', id: 'browse-more', hidden: true, onclick: () => load(next) }, 'Load more');

  // Live tail: fetch() reads the SSE stream (EventSource cannot send the
  // Authorization header).
  const tailOut = h('div', { id: 'tail-results', 'aria-live': 'polite' });
  const tailBtn = h('button', { type: 'button', id: 'tail-toggle' }, 'Start live tail');
  let tailAbort = null;
  tailBtn.addEventListener('click', async () => {
    if (tailAbort) { tailAbort.abort(); return; }
    tailAbort = new AbortController(); aborters.push(tailAbort);
    tailBtn.textContent = 'Stop live tail';
    tailOut.replaceChildren(h('p', { class: 'muted' }, 'Connecting…'));
    try {
      const headers = authHeader() ? { Authorization: authHeader() } : {};
      const resp = await fetch(`${API}/topics/${enc}/tail`, { headers, signal: tailAbort.signal });
      if (!resp.ok) { const j = await resp.json().catch(() => ({})); throw new Error(j.error || resp.statusText); }
      // The stream answers once its consumer is placed at the end offsets:
      // from here on every new message arrives.
      tailOut.replaceChildren(h('p', { class: 'muted' }, 'Waiting for new messages…'));
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = ev.split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n');
          if (!data) continue;
          if (tailOut.firstChild && tailOut.firstChild.tagName === 'P') tailOut.replaceChildren();
          tailOut.prepend(messageView(JSON.parse(data)));
          while (tailOut.children.length > 200) tailOut.lastChild.remove();
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') tailOut.prepend(errorBox(new Error('Live tail: ' + e.message)));
    }
    tailAbort = null;
    tailBtn.textContent = 'Start live tail';
  });

  return h('section', { class: 'panel', id: 'browser' },
    h('h2', {}, 'Messages'),
    h('form', { class: 'row', id: 'browse-form', onsubmit: ev => { ev.preventDefault(); load(); } },
      h('label', { for: 'browse-partition' }, 'Partition', part),
      h('label', { for: 'browse-mode' }, 'Start', mode),
      h('label', { for: 'browse-offset' }, 'Offset', off),
      h('label', { for: 'browse-time' }, 'Time (local)', when),
      h('label', { for: 'browse-key' }, 'Key contains', key),
      h('label', { for: 'browse-limit' }, 'Max', limit),
      h('button', { class: 'primary', type: 'submit', id: 'browse-submit' }, 'Show messages')),
    status, out, more,
    h('h2', {}, 'Live tail'),
    h('p', { class: 'muted' }, 'Messages produced to any partition from now on, newest first (last 200 kept).'),
    tailBtn, tailOut);
}

// ---------- consumer groups ----------
async function groupsPage(root) {
  const list = h('div', {});
  const render = async () => {
    const { groups } = await api('GET', '/groups');
    swap(list, table([
      { label: 'Group', get: g => h('a', { href: '#/groups/' + encodeURIComponent(g.group) }, g.group) },
      { label: 'State', get: g => stateBadge(g.state) },
      { label: 'Protocol', get: g => [g.protocol_type, g.protocol].filter(Boolean).join(' / ') || '—' },
      { label: 'Members', num: true, get: g => String(g.members) },
      { label: 'Lag', num: true, get: g => g.error ? h('span', { class: 'badge bad' }, g.error) : g.lag < 0 ? '—' : fmtNum(g.lag) },
      { label: 'Coordinator', num: true, get: g => String(g.coordinator) },
    ], groups, 'No consumer groups yet. They appear once a consumer joins a group or commits offsets.'));
  };
  root.append(h('h1', {}, 'Consumer groups'), list);
  await render();
  every(3000, () => render().catch(e => toast(e.message, true)));
}
function stateBadge(st) {
  const cls = st === 'Stable' ? 'ok' : st === 'Empty' ? '' : st === 'Dead' ? 'bad' : 'warn';
  return h('span', { class: 'badge ' + cls }, st || 'unknown');
}

async function groupPage(root, params, group) {
  const enc = encodeURIComponent(group);
  const lagHistory = [];
  const head = h('div', {}), members = h('div', {}), offsets = h('div', {}), chartBox = h('div', {});
  const resetErr = h('div', {});
  let state = '';
  const render = async () => {
    const g = await api('GET', '/groups/' + enc);
    state = g.state;
    pushSample(lagHistory, Math.max(0, g.lag));
    swap(head, h('p', {}, stateBadge(g.state), ' ', [g.protocol_type, g.protocol].filter(Boolean).join(' / '), ` · coordinator ${g.coordinator} · total lag `, h('strong', { id: 'group-lag' }, fmtNum(g.lag))));
    swap(members, table([
      { label: 'Member', get: m => h('code', {}, m.member_id) },
      { label: 'Client', get: m => `${m.client_id} (${m.client_host})` },
      { label: 'Assigned', get: m => m.assignments.map(a => `${a.topic}: ${a.partitions.join(', ')}`).join('; ') || '—' },
    ], g.members, 'No members: the group is empty.'));
    swap(offsets, table([
      { label: 'Topic', get: o => h('a', { href: '#/topics/' + encodeURIComponent(o.topic) }, o.topic) },
      { label: 'Partition', num: true, get: o => String(o.partition) },
      { label: 'Committed', num: true, get: o => o.committed < 0 ? '—' : fmtNum(o.committed) },
      { label: 'Log end', num: true, get: o => fmtNum(o.log_end) },
      { label: 'Lag', num: true, get: o => h('span', { class: 'lag', 'data-topic': o.topic, 'data-partition': o.partition }, o.lag < 0 ? '—' : fmtNum(o.lag)) },
      { label: 'Member', get: o => o.member_id ? h('code', {}, o.member_id.slice(0, 24)) : '' },
      { label: '', get: o => o.error ? h('span', { class: 'badge bad' }, o.error) : '' },
    ], g.offsets, 'This group has no committed offsets.'));
    chartBox.replaceChildren(lineChart('total lag over time', [lagHistory], v => fmtNum(Math.round(v)), { chart: 'lag' }));
    resetBtn.disabled = !(g.state === 'Empty' || g.state === 'Dead');
    resetHint.textContent = resetBtn.disabled ? `The group is ${g.state}: stop its consumers to reset offsets.` : '';
  };
  const to = h('select', { id: 'reset-to' }, h('option', { value: 'earliest' }, 'Earliest'), h('option', { value: 'latest' }, 'Latest'), h('option', { value: 'timestamp' }, 'Time'));
  const when = h('input', { id: 'reset-time', type: 'datetime-local' });
  const resetBtn = h('button', { type: 'submit', class: 'danger', id: 'reset-submit' }, 'Reset offsets');
  const resetHint = h('span', { class: 'muted' });
  root.append(
    h('p', {}, h('a', { href: '#/groups' }, '← Consumer groups')),
    h('h1', {}, 'Group ', h('code', {}, group)), head,
    h('section', { class: 'panel' }, h('h2', {}, 'Lag over time'), h('p', { class: 'legend' }, 'Sampled by this page every 3 s while it is open.'), chartBox),
    h('h2', {}, 'Members'), members,
    h('h2', {}, 'Offsets and lag'), offsets,
    h('section', { class: 'panel' }, h('h2', {}, 'Reset offsets'),
      h('form', { class: 'row', id: 'reset-form', onsubmit: async ev => {
        ev.preventDefault(); resetErr.replaceChildren();
        const req = { to: to.value };
        if (to.value === 'timestamp') {
          if (!when.value) { resetErr.replaceChildren(errorBox(new Error('Pick a date and time.'))); return; }
          req.timestamp = new Date(when.value).getTime();
        }
        if (!await confirmAction(`Reset every committed offset of group "${group}" to ${to.value === 'timestamp' ? when.value : to.value}? Its consumers will re-read or skip messages.`, 'Reset offsets')) return;
        try { const r = await api('POST', `/groups/${enc}/reset`, req); toast(`Reset ${r.offsets.length} partition offsets`); await render(); }
        catch (e) { resetErr.replaceChildren(errorBox(e)); }
      } }, h('label', { for: 'reset-to' }, 'To', to), h('label', { for: 'reset-time' }, 'Time (local)', when), resetBtn, resetHint),
      resetErr));
  await render();
  every(3000, () => render().catch(e => toast(e.message, true)));
}

// ---------- plugins (the admin API, /admin/plugins) ----------
const pluginHistory = {}; // name -> {last, calls: [], errors: [], ns: []}

async function pluginsPage(root) {
  root.append(h('h1', {}, 'Plugins'));
  if (!adminBase) {
    root.append(h('div', { class: 'empty' }, 'The plugin admin API is not served on this listener.'));
    return;
  }
  const list = h('div', { id: 'plugin-list' });
  const render = async () => {
    const { plugins } = await api('GET', adminBase + '/plugins');
    if (!plugins.length) { swap(list, h('div', { class: 'empty' }, 'No plugins deployed. Deploy a WebAssembly module below.')); return; }
    swap(list, ...plugins.map(pluginCard));
  };
  const pluginCard = p => {
    const st = p.stats || {};
    const hist = pluginHistory[p.name] ||= { last: null, calls: [], errors: [], ns: [] };
    const now = Date.now();
    if (hist.last && hist.last.version === p.version) {
      const dt = (now - hist.last.t) / 1000;
      pushSample(hist.calls, Math.max(0, (st.calls - hist.last.calls) / dt));
      pushSample(hist.errors, Math.max(0, (st.errors - hist.last.errors) / dt));
    }
    pushSample(hist.ns, st.ns_per_record || 0);
    hist.last = { t: now, version: p.version, calls: st.calls || 0, errors: st.errors || 0 };
    const nameEnc = encodeURIComponent(p.name);
    return h('section', { class: 'panel plugin', 'data-plugin': p.name },
      h('h2', {}, h('code', {}, p.name), ` v${p.version} `, h('span', { class: 'badge' }, p.hook), ' on ', h('a', { href: '#/topics/' + encodeURIComponent(p.topic) }, p.topic)),
      h('p', { class: 'muted' }, `deployed ${p.deployed_at} · ${fmtBytes(p.size)} · sha256 ${String(p.sha256).slice(0, 12)}…` + (p.previous_version ? ` · rollback to v${p.previous_version} possible` : '')),
      h('div', { class: 'cards' },
        card('Calls', fmtNum(st.calls || 0)), card('Records', fmtNum(st.records || 0)),
        card('Errors', fmtNum(st.errors || 0), st.errors ? 'bad' : ''), card('ns per record', (st.ns_per_record || 0).toFixed(0))),
      h('p', { class: 'legend' }, h('span', { class: 'k1' }, '■ calls/s'), '  ', h('span', { class: 'k2' }, '■ errors/s')),
      lineChart(`calls per second of ${p.name}`, [hist.calls, hist.errors], v => v.toFixed(1)),
      h('p', { class: 'legend' }, h('span', { class: 'k1' }, '■ ns per record (average since deploy)')),
      lineChart(`nanoseconds per record of ${p.name}`, [hist.ns], v => v.toFixed(0)),
      p.shadow ? h('p', { class: 'shadow', 'data-shadow-version': p.shadow.version }, h('span', { class: 'badge warn' }, `shadow v${p.shadow.version}`),
        ` compared ${p.shadow.stats.compared}, divergent ${p.shadow.stats.divergent_calls} calls, errors ${p.shadow.stats.errors} `,
        h('button', { type: 'button', 'data-promote': p.name, onclick: () => change('POST', `${adminBase}/plugins/${nameEnc}/promote`, `Promote shadow v${p.shadow.version} of ${p.name} to live?`, 'Promote') }, 'Promote shadow'), ' ',
        h('button', { type: 'button', 'data-stop-shadow': p.name, onclick: () => change('DELETE', `${adminBase}/plugins/${nameEnc}/shadow`, `Stop the shadow version of ${p.name}?`, 'Stop shadow') }, 'Stop shadow')) : '',
      h('div', { class: 'toolbar' },
        p.previous_version ? h('button', { type: 'button', onclick: () => change('POST', `${adminBase}/plugins/${nameEnc}/rollback`, `Roll ${p.name} back to v${p.previous_version}?`, 'Roll back') }, 'Roll back') : '',
        h('button', { type: 'button', class: 'danger', 'data-remove': p.name, onclick: () => change('DELETE', `${adminBase}/plugins/${nameEnc}`, `Remove plugin ${p.name} from ${p.topic}? Records will no longer go through it.`, 'Remove plugin') }, 'Remove')));
  };
  async function change(method, path, question, label) {
    if (!await confirmAction(question, label)) return;
    try { await api(method, path); toast(label + ': done'); await render(); }
    catch (e) { toast(e.message, true); }
  }
  const err = h('div', {}), dry = h('div', { id: 'dry-run-result' });
  const name = h('input', { id: 'plugin-name', required: true, pattern: '[a-zA-Z0-9._\\-]+' });
  const hook = h('select', { id: 'plugin-hook' }, ['partitioner', 'transform', 'filter'].map(x => h('option', { value: x }, x)));
  const topic = h('input', { id: 'plugin-topic', required: true });
  const file = h('input', { id: 'plugin-file', type: 'file', accept: '.wasm,application/wasm', required: true });
  const cfg = h('textarea', { id: 'plugin-config', placeholder: 'key=value per line (optional)' });
  const shadow = h('input', { id: 'plugin-shadow', type: 'checkbox' });
  const query = () => {
    const q = new URLSearchParams({ hook: hook.value, topic: topic.value.trim() });
    for (const [k, v] of Object.entries(parseKV(cfg.value))) q.append('config', `${k}=${v}`);
    return q;
  };
  const form = h('form', { id: 'deploy-form', onsubmit: async ev => {
    ev.preventDefault(); err.replaceChildren();
    if (!file.files.length) { err.replaceChildren(errorBox(new Error('Choose a .wasm module to deploy.'))); return; }
    let q;
    try { q = query(); } catch (e) { err.replaceChildren(errorBox(e)); return; }
    q.set('name', name.value.trim());
    if (shadow.checked) q.set('shadow', 'true');
    if (!await confirmAction(`Deploy ${file.files[0].name} as ${shadow.checked ? 'a shadow of ' : ''}plugin "${name.value}" (${hook.value}) on topic "${topic.value}"?`, 'Deploy')) return;
    try {
      const dep = await api('POST', `${adminBase}/plugins?${q}`, file.files[0]);
      toast(`Deployed ${dep.name} v${dep.version}`);
      await render();
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
    h('div', { class: 'row' },
      h('label', { for: 'plugin-name' }, 'Name', name), h('label', { for: 'plugin-hook' }, 'Hook', hook),
      h('label', { for: 'plugin-topic' }, 'Topic', topic), h('label', { for: 'plugin-file' }, 'Module (.wasm)', file)),
    h('label', { for: 'plugin-config' }, 'Config', cfg),
    h('label', { class: 'inline' }, shadow, 'Deploy as a shadow of the live version (compared, not used)'),
    h('div', { class: 'toolbar' },
      h('button', { class: 'primary', type: 'submit', id: 'deploy-submit' }, 'Deploy'),
      h('button', { type: 'button', id: 'dry-run', onclick: async () => {
        err.replaceChildren(); dry.replaceChildren();
        if (!file.files.length) { err.replaceChildren(errorBox(new Error('Choose a .wasm module to dry-run.'))); return; }
        try {
          const q = query(); q.set('limit', '1000');
          const r = await api('POST', `${adminBase}/plugins/dry-run?${q}`, file.files[0]);
          dry.replaceChildren(h('h3', {}, 'Dry run'), h('p', {}, `${r.records_in} records in ${r.calls} calls: kept ${r.kept}, changed ${r.changed}, dropped ${r.dropped}, errors ${r.errors}, ${Math.round(r.ns_per_record)} ns/record`), h('pre', {}, JSON.stringify(r, null, 2)));
        } catch (e) { err.replaceChildren(errorBox(e)); }
      } }, 'Dry run on the topic\'s records')),
    err, dry);
  root.append(list, h('section', { class: 'panel' }, h('h2', {}, 'Deploy a plugin'), form));
  await render();
  every(3000, () => render().catch(e => toast(e.message, true)));
}

// ---------- start ----------
$('#logout').addEventListener('click', () => { setAuth(''); location.hash = '#/login'; });
window.addEventListener('hashchange', route);
(async () => {
  try {
    await whoami();
  } catch (e) {
    if (e.status === 401) {
      if (!location.hash.startsWith('#/login')) location.hash = '#/login?next=' + encodeURIComponent(location.hash.replace(/^#/, '') || '/');
      else route();
      return;
    }
    $('#main').replaceChildren(h('h1', {}, 'Cannot load the console'), errorBox(e));
    return;
  }
  if (location.hash.startsWith('#/login')) location.hash = '#/';
  route();
})();
