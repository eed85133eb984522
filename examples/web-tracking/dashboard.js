// Dashboard over the bridge's SSE endpoint: counts per event type and
// page, the most clicked targets, and the latest events. Every record is
// kept in window.sluiceDashboard.received; drop() and restore() let a page
// (or a test) cut and resume the stream by hand; automatic reconnects
// after network errors need none of that.
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var topic = params.get("topic") || "web-events";
  var from = params.get("from") || "earliest";
  var latestRows = 25;
  var received = [];
  var lastEventId = "";
  var opens = 0;
  var source = null;

  var byType = {};   // type -> count
  var byPage = {};   // page -> {page_view, click, pixel_view, all}
  var clicks = {};   // target \0 product -> {target, product, n}
  var latest = [];   // newest first, at most latestRows

  document.getElementById("topic").textContent = topic;
  var shop = "./" + (params.get("topic") ? "?topic=" + encodeURIComponent(topic) : "");
  ["shop-link", "shop-link-2", "shop-link-3"].forEach(function (id) { document.getElementById(id).setAttribute("href", shop); });

  function setState(s) {
    var e = document.getElementById("state");
    e.textContent = s;
    e.className = "pill " + s;
  }

  // describe turns a record into what the dashboard shows. Tracking events
  // are JSON objects with a type; anything else still counts.
  function describe(rec) {
    var v = rec.value;
    var ev = { type: "(other)", page: "—", detail: "", ts: rec.timestamp };
    if (v && typeof v === "object" && !Array.isArray(v)) {
      ev.type = typeof v.type === "string" && v.type ? v.type : "(no type)";
      ev.page = v.url || v.page || "—";
      if (typeof v.ts === "number") ev.ts = v.ts;
      if (ev.type === "click") {
        ev.target = v.target || "(unnamed)";
        ev.product = v.product || "";
        ev.detail = ev.target + (v.product ? " · " + v.product : "") + (v.value ? " · " + v.value : "");
      } else if (ev.type === "page_view") {
        ev.detail = v.title || "";
      } else if (ev.type !== "pixel_view") {
        ev.detail = JSON.stringify(v);
      }
    } else if (v != null) {
      ev.type = "(text)";
      ev.detail = String(v);
    }
    return ev;
  }

  function count(rec) {
    var ev = describe(rec);
    byType[ev.type] = (byType[ev.type] || 0) + 1;
    var p = byPage[ev.page] || (byPage[ev.page] = { page_view: 0, click: 0, pixel_view: 0, all: 0 });
    if (ev.type in p) p[ev.type]++;
    p.all++;
    if (ev.type === "click") {
      var k = ev.target + "\u0000" + ev.product;
      var c = clicks[k] || (clicks[k] = { target: ev.target, product: ev.product, n: 0 });
      c.n++;
    }
    ev.where = rec.partition + "/" + rec.offset;
    latest.unshift(ev);
    if (latest.length > latestRows) latest.length = latestRows;
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function fill(tbody, rows) {
    tbody.textContent = "";
    rows.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) { tr.appendChild(c); });
      tbody.appendChild(tr);
    });
  }

  // placeholder fills an empty table with one explanatory row.
  function placeholder(id, cols, text) {
    var td = cell(text, "none");
    td.colSpan = cols;
    fill(document.getElementById(id), [[td]]);
  }

  function time(ms) {
    var d = new Date(ms);
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  // render redraws at most every 150 ms, however fast records arrive (a
  // replay from the earliest offset can bring thousands at once).
  var pending = false;
  var shownNewest = null;
  function render() {
    pending = false;
    document.getElementById("empty").hidden = received.length > 0;

    var types = Object.keys(byType).sort(function (a, b) { return byType[b] - byType[a]; });
    var max = types.length ? byType[types[0]] : 1;
    var box = document.getElementById("types");
    box.textContent = "";
    types.forEach(function (t) {
      var s = document.createElement("div");
      s.className = "stat";
      var label = document.createElement("div");
      label.className = "label type";
      label.textContent = t;
      var value = document.createElement("div");
      value.className = "value";
      value.textContent = String(byType[t]);
      var bar = document.createElement("div");
      bar.className = "bar";
      var fillEl = document.createElement("span");
      fillEl.style.width = Math.round(100 * byType[t] / max) + "%";
      bar.appendChild(fillEl);
      s.appendChild(label);
      s.appendChild(value);
      s.appendChild(bar);
      box.appendChild(s);
    });

    var pages = Object.keys(byPage).sort(function (a, b) { return byPage[b].all - byPage[a].all || (a < b ? -1 : 1); });
    fill(document.getElementById("pages"), pages.slice(0, 15).map(function (p) {
      var c = byPage[p];
      return [cell(p, "page"), cell(String(c.page_view), "num"), cell(String(c.click), "num"), cell(String(c.pixel_view), "num"), cell(String(c.all), "num")];
    }));

    var top = Object.keys(clicks).map(function (k) { return clicks[k]; }).sort(function (a, b) { return b.n - a.n; });
    fill(document.getElementById("clicks"), top.slice(0, 10).map(function (c) {
      return [cell(c.target, "type"), cell(c.product || "—"), cell(String(c.n), "num")];
    }));
    if (top.length === 0) placeholder("clicks", 3, "No clicks yet");
    if (pages.length === 0) placeholder("pages", 5, "No page views yet");

    var tbody = document.getElementById("records");
    var fresh = shownNewest !== null;
    fill(tbody, latest.map(function (ev) {
      return [cell(time(ev.ts)), cell(ev.type, "type"), cell(ev.page, "page"), cell(ev.detail, "detail"), cell(ev.where, "num")];
    }));
    // Highlight the rows that arrived since the last redraw.
    for (var i = 0; fresh && i < latest.length && latest[i] !== shownNewest; i++) tbody.children[i].className = "fresh";
    shownNewest = latest[0] || null;
    Array.prototype.forEach.call(tbody.querySelectorAll(".detail"), function (td) { td.title = td.textContent; });
  }
  function schedule() {
    if (!pending) {
      pending = true;
      setTimeout(render, 150);
    }
  }

  function connect() {
    var url = "/topics/" + encodeURIComponent(topic) + "/events?from=" + encodeURIComponent(from);
    // A new EventSource cannot set Last-Event-ID, so a manual restore
    // passes the id in the query string instead.
    if (lastEventId) url += "&lastEventId=" + encodeURIComponent(lastEventId);
    source = new EventSource(url);
    source.onopen = function () { opens++; setState("open"); };
    source.onerror = function () { setState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting"); };
    source.addEventListener("ready", function (e) { lastEventId = e.lastEventId; });
    source.onmessage = function (e) {
      lastEventId = e.lastEventId;
      var rec = JSON.parse(e.data);
      received.push({ partition: rec.partition, offset: rec.offset, key: rec.key, value: rec.value });
      count(rec);
      document.getElementById("count").textContent = String(received.length);
      schedule();
    };
  }

  window.sluiceDashboard = {
    received: received,
    counts: function () { return { byType: byType, byPage: byPage }; },
    opens: function () { return opens; },
    lastEventId: function () { return lastEventId; },
    drop: function () { source.close(); setState("dropped"); },
    restore: function () { connect(); },
  };
  render();
  connect();
})();
