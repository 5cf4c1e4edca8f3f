// Renke dashboard: live headline numbers through Server-Sent Events. Without JavaScript the
// page refreshes itself (see the <noscript> refresh).
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) { return; }
  var pct = function (v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; };
  var set = function (name, text) {
    var el = root.querySelector("[data-live='" + name + "']");
    if (el) { el.textContent = text; }
  };
  var source = new EventSource(root.getAttribute("data-events"));
  source.onmessage = function (ev) {
    var s;
    try { s = JSON.parse(ev.data); } catch (e) { return; }
    set("rate", pct(s.rate));
    set("interval", s.interval ? pct(s.interval[0]) + " – " + pct(s.interval[1]) : "—");
    set("respondents", String(s.respondents));
    set("planned", String(s.planned));
    set("status", s.status_label);
    root.className = "headline status-" + s.status.replace("_", "-");
    root.setAttribute("data-updated", new Date().toISOString());
  };
})();
