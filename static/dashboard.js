// Renke dashboard: live headline numbers through Server-Sent Events. Without JavaScript the
// page refreshes itself (see the <noscript> refresh).
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) { return; }
  var pct = function (v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; };
  // The same wording as the page's `chance` filter.
  var chance = function (p) {
    if (p === null || p === undefined) { return "—"; }
    if (p > 0.999) { return "高于 99.9%"; }
    if (p < 0.001) { return "低于 0.1%"; }
    return (p * 100).toFixed(1) + "%";
  };
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
    set("official_rate", pct(s.official_rate));
    set("official_interval", s.official_interval ? pct(s.official_interval[0]) + " – " + pct(s.official_interval[1]) : "—");
    set("prediction_interval", s.prediction_interval ? pct(s.prediction_interval[0]) + " – " + pct(s.prediction_interval[1]) : "—");
    set("official_status", s.official_status_label);
    set("probability", chance(s.probability_reaching_target));
    set("meaning", s.official_meaning);
    root.className = "headline status-" + s.official_status.replace("_", "-");
    root.setAttribute("data-updated", new Date().toISOString());
  };
})();

// Copy buttons (shown only where the browser can copy): `data-copy` names the field to copy.
(function () {
  "use strict";
  if (!navigator.clipboard) { return; }
  var buttons = document.querySelectorAll("[data-copy]");
  Array.prototype.forEach.call(buttons, function (b) {
    var field = document.getElementById(b.getAttribute("data-copy"));
    if (!field) { return; }
    b.hidden = false;
    var label = b.textContent;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        b.textContent = "已复制";
        setTimeout(function () { b.textContent = label; }, 2000);
      });
    });
  });
})();
