// Tracking snippet for Sluice's HTTP bridge, with no SDK: every page of
// the demo shop loads it. It sends one page view (sendBeacon) and one
// pixel per page load, and one click event per click on an element
// marked data-track (its value names the target; data-product and
// data-value add detail). A page-view id joins a visit's events
// downstream. ?topic= picks the topic (default web-events), ?bridge=
// another bridge origin (which must then allow this page's origin).
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var topic = params.get("topic") || "web-events";
  var bridge = params.get("bridge") || location.origin;
  var pageViewId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var sent = [];

  // send posts one event as a beacon: text/plain JSON needs no CORS
  // preflight, and sendBeacon delivers it even when the page is being
  // left (a click on a link), which fetch() would not guarantee.
  function send(event) {
    event.page_view_id = pageViewId;
    event.url = location.pathname;
    event.ts = Date.now();
    var body = new Blob([JSON.stringify(event)], { type: "text/plain" });
    var queued = navigator.sendBeacon(bridge + "/beacon/" + encodeURIComponent(topic), body);
    sent.push({ type: event.type, queued: queued });
    return queued;
  }

  // pixel records the same kind of event for clients without JavaScript
  // (an <img> in the page); added from script here so the demo shows both.
  function pixel(fields) {
    var q = new URLSearchParams(fields);
    q.set("page_view_id", pageViewId);
    var img = new Image(1, 1);
    img.alt = "";
    img.onload = function () { sent.push({ type: "pixel", queued: true }); };
    img.src = bridge + "/pixel/" + encodeURIComponent(topic) + ".gif?" + q.toString();
    var slot = document.getElementById("pixel-slot") || document.body;
    slot.appendChild(img);
  }

  send({ type: "page_view", title: document.title, referrer: document.referrer });
  pixel({ type: "pixel_view", page: location.pathname });

  // One listener for the whole page, so buttons a page renders later are
  // tracked too.
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-track]") : null;
    if (!el) return;
    send({
      type: "click",
      target: el.getAttribute("data-track") || el.id,
      product: el.getAttribute("data-product") || undefined,
      value: el.getAttribute("data-value") || undefined,
    });
  });

  window.sluiceTracking = { sent: sent, pageViewId: pageViewId, topic: topic, send: send };
  var status = document.getElementById("status");
  if (status) status.textContent = "Tracking into topic " + topic;
})();
