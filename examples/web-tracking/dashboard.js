// Dashboard over the bridge's SSE endpoint. window.sluiceDashboard exposes
// what was received and lets a page (or a test) drop and restore the stream
// by hand; automatic reconnects after network errors need none of that.
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var topic = params.get("topic") || "web-events";
  var from = params.get("from") || "latest";
  var received = [];
  var lastEventId = "";
  var opens = 0;
  var source = null;
  var list = document.getElementById("records");
  document.getElementById("topic").textContent = topic;

  function setState(s) { document.getElementById("state").textContent = s; }

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
      var li = document.createElement("li");
      li.textContent = rec.partition + "/" + rec.offset + " " + JSON.stringify(rec.value);
      list.appendChild(li);
      document.getElementById("count").textContent = String(received.length);
    };
  }

  window.sluiceDashboard = {
    received: received,
    opens: function () { return opens; },
    lastEventId: function () { return lastEventId; },
    drop: function () { source.close(); setState("dropped"); },
    restore: function () { connect(); },
  };
  connect();
})();
