/*! sluice.js: first-party event tracker for Sluice's HTTP bridge (docs/tracker.md). */
(function (w) {
  "use strict";
  var d = w.document, nav = w.navigator;
  var script = d.currentScript;
  var cfg = null, queue = [], timer = 0, inflight = false, backoff = 0, seq = 0;
  var stats = { sent: 0, accepted: 0, duplicates: 0, failures: 0, beacons: 0, dropped: 0 };
  var SESSION_IDLE = 30 * 60 * 1000, MAX_BATCH_BYTES = 48 * 1024;

  function store(kind) {
    try { var s = w[kind]; s.setItem("sluice.t", "1"); s.removeItem("sluice.t"); return s; } catch (e) { return null; }
  }
  var local = store("localStorage"), session = store("sessionStorage");

  function rid() {
    var a = new Uint8Array(16), s = "";
    (w.crypto || w.msCrypto).getRandomValues(a);
    for (var i = 0; i < a.length; i++) s += (a[i] < 16 ? "0" : "") + a[i].toString(16);
    return s;
  }
  function get(s, k) { try { return s ? s.getItem(k) : null; } catch (e) { return null; } }
  function set(s, k, v) { try { if (s) s.setItem(k, v); } catch (e) { /* full or blocked: keep going */ } }

  // Do Not Track / Global Privacy Control, unless the site opts out of honouring them.
  function dnt() {
    return nav.doNotTrack === "1" || w.doNotTrack === "1" || nav.msDoNotTrack === "1" || nav.globalPrivacyControl === true;
  }
  function allowed() {
    if (!cfg) return false;
    if (cfg.respectDNT && dnt()) return false;
    if (cfg.requireConsent && get(local, "sluice.consent") !== "1") return false;
    return true;
  }

  // Anonymous user id: random, in localStorage; none in cookieless mode.
  function userId() {
    if (cfg.cookieless) return null;
    var u = get(local, "sluice.uid");
    if (!u) { u = rid(); set(local, "sluice.uid", u); }
    return u;
  }
  // Session id: random, renewed after 30 minutes without events; per tab
  // (sessionStorage) in cookieless mode.
  function sessionId() {
    var s = cfg.cookieless ? session : local, now = Date.now(), v = null;
    try { v = JSON.parse(get(s, "sluice.sid") || "null"); } catch (e) { v = null; }
    if (!v || now - v.t > SESSION_IDLE) v = { id: rid(), t: now };
    v.t = now;
    set(s, "sluice.sid", JSON.stringify(v));
    return v.id;
  }

  function qkey() { return "sluice.q:" + cfg.topic; }
  function load() {
    try { queue = JSON.parse(get(local, qkey()) || "[]") || []; } catch (e) { queue = []; }
  }
  function save() { set(local, qkey(), JSON.stringify(queue)); }
  function url() { return cfg.endpoint + "/collect/" + encodeURIComponent(cfg.topic); }

  function enqueue(ev) {
    if (!allowed()) return null;
    ev.eid = rid();
    ev.ts = Date.now();
    ev.seq = ++seq;
    ev.sid = sessionId();
    var u = userId();
    if (u) ev.uid = u;
    ev.url = w.location.href;
    load();
    queue.push(ev);
    while (queue.length > cfg.maxQueue) { queue.shift(); stats.dropped++; }
    save();
    schedule(queue.length >= cfg.batchSize ? 0 : cfg.flushMs);
    return ev.eid;
  }

  function schedule(ms) {
    if (timer) return;
    timer = w.setTimeout(function () { timer = 0; flush(); }, ms);
  }

  function batch(from) {
    var out = [], bytes = 12;
    for (var i = 0; i < from.length && out.length < cfg.batchSize; i++) {
      var n = JSON.stringify(from[i]).length + 1;
      if (out.length && bytes + n > MAX_BATCH_BYTES) break;
      out.push(from[i]);
      bytes += n;
    }
    return out;
  }

  // flush sends the oldest batch with fetch and removes it from the queue
  // only once the bridge confirmed it (2xx): anything unconfirmed is sent
  // again later, and the bridge drops repeats by event id.
  function flush() {
    if (!cfg || inflight) return;
    load();
    if (!queue.length) return;
    var b = batch(queue), ids = {};
    for (var i = 0; i < b.length; i++) ids[b[i].eid] = true;
    inflight = true;
    stats.sent++;
    w.fetch(url(), {
      method: "POST", body: JSON.stringify({ events: b }), keepalive: true,
      mode: "cors", credentials: "omit", headers: { "Content-Type": "text/plain" }
    }).then(function (res) {
      if (res.ok) return res.json().then(function (r) { return { ok: true, r: r }; }, function () { return { ok: true, r: {} }; });
      return { ok: false, status: res.status };
    }).then(function (o) {
      inflight = false;
      if (o.ok || (o.status >= 400 && o.status < 500 && o.status !== 408 && o.status !== 429)) {
        // Confirmed, or refused for good (malformed, not allowed): either
        // way it is not resent.
        if (o.ok) { stats.accepted += o.r.accepted || 0; stats.duplicates += o.r.duplicates || 0; }
        else { stats.dropped += b.length; }
        load();
        queue = queue.filter(function (e) { return !ids[e.eid]; });
        save();
        backoff = 0;
        if (queue.length) schedule(0);
        return;
      }
      retry();
    }, function () { inflight = false; retry(); });
  }

  function retry() {
    stats.failures++;
    backoff = Math.min(backoff ? backoff * 2 : cfg.retryMs, cfg.maxRetryMs);
    schedule(backoff);
  }

  // At page hide the whole queue goes out as a beacon (fetch keepalive if
  // the browser refuses the beacon). Beacons cannot be confirmed, so the
  // events stay queued; the next page resends them and the bridge drops
  // the ones that arrived.
  function onHide() {
    if (!cfg) return;
    load();
    if (!queue.length) return;
    var body = JSON.stringify({ events: batch(queue) });
    var ok = false;
    try { ok = nav.sendBeacon && nav.sendBeacon(url(), new Blob([body], { type: "text/plain" })); } catch (e) { ok = false; }
    if (!ok) {
      try { w.fetch(url(), { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit", headers: { "Content-Type": "text/plain" } }).catch(function () {}); } catch (e) { /* page is going */ }
    }
    stats.beacons++;
  }

  var api = {
    // init({endpoint, topic, ...}); see docs/tracker.md for the options.
    init: function (o) {
      o = o || {};
      cfg = {
        endpoint: (o.endpoint || "").replace(/\/+$/, ""),
        topic: o.topic || "web-events",
        batchSize: o.batchSize || 20,
        flushMs: o.flushMs == null ? 1000 : o.flushMs,
        retryMs: o.retryMs || 1000,
        maxRetryMs: o.maxRetryMs || 30000,
        maxQueue: o.maxQueue || 1000,
        cookieless: !!o.cookieless,
        respectDNT: o.respectDNT !== false,
        requireConsent: !!o.requireConsent
      };
      if (!allowed() && !cfg.requireConsent) return api; // DNT: nothing is recorded or sent
      load();
      if (queue.length) schedule(0); // what an earlier page could not deliver
      return api;
    },
    page: function (props) {
      return enqueue({ type: "page_view", title: d.title, ref: d.referrer || undefined, props: props || undefined });
    },
    track: function (name, props) {
      return enqueue({ type: "event", name: String(name), props: props || undefined });
    },
    // consent(true) allows recording (with requireConsent); consent(false)
    // stops it and forgets the queue and ids.
    consent: function (yes) {
      set(local, "sluice.consent", yes ? "1" : "0");
      if (!yes && cfg) {
        queue = []; save();
        try { local.removeItem("sluice.uid"); local.removeItem("sluice.sid"); } catch (e) { /* ignore */ }
      }
    },
    flush: function () { flush(); },
    pending: function () { if (!cfg) return 0; load(); return queue.length; },
    stats: function () { return JSON.parse(JSON.stringify(stats)); }
  };

  w.addEventListener("pagehide", onHide);
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") onHide(); });
  w.addEventListener("online", function () { backoff = 0; flush(); });
  w.sluice = api;

  // <script src="https://bridge/sluice.js" data-topic="web-events"> sets
  // itself up from its attributes and records a page view.
  if (script && script.getAttribute("data-topic")) {
    var src = script.src, a = d.createElement("a");
    a.href = src;
    api.init({
      endpoint: script.getAttribute("data-endpoint") || (a.protocol + "//" + a.host),
      topic: script.getAttribute("data-topic"),
      cookieless: script.hasAttribute("data-cookieless"),
      requireConsent: script.hasAttribute("data-require-consent")
    });
    if (script.getAttribute("data-auto-page") !== "false") api.page();
  }
})(window);
