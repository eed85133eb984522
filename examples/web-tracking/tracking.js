// Minimal tracking snippet for Sluice's HTTP bridge. It keeps a page-view
// id so page views and clicks of one visit can be joined downstream.
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var topic = params.get("topic") || "web-events";
  var bridge = params.get("bridge") || location.origin;
  var pageViewId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var sent = [];

  // send posts one event as a beacon; sendBeacon queues it even when the
  // page is closing, which fetch() would not guarantee.
  function send(event) {
    event.page_view_id = pageViewId;
    event.url = location.pathname;
    event.ts = Date.now();
    var body = new Blob([JSON.stringify(event)], { type: "text/plain" });
    var queued = navigator.sendBeacon(bridge + "/beacon/" + encodeURIComponent(topic), body);
    sent.push({ type: event.type, queued: queued });
    return queued;
  }

  // pixel records the same kind of event for no-JavaScript clients; here
  // it is added from script only so the demo shows both paths.
  function pixel(fields) {
    var q = new URLSearchParams(fields);
    q.set("page_view_id", pageViewId);
    var img = new Image(1, 1);
    img.alt = "";
    img.onload = function () { sent.push({ type: "pixel", queued: true }); };
    img.src = bridge + "/pixel/" + encodeURIComponent(topic) + ".gif?" + q.toString();
    document.getElementById("pixel-slot").appendChild(img);
  }

  send({ type: "page_view", title: document.title, referrer: document.referrer });
  document.getElementById("buy").addEventListener("click", function (e) {
    send({ type: "click", target: e.target.id });
  });
  pixel({ type: "pixel_view", page: location.pathname });

  window.sluiceTracking = { sent: sent, pageViewId: pageViewId, topic: topic };
  document.getElementById("status").textContent = "tracking " + topic;
})();
