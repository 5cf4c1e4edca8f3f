// Renke respondent page: small progressive enhancement only. The form works without it.
// Keeps a draft in localStorage (survives a reload or a dropped connection), shows progress,
// and offers a jump to the next unanswered item.
(function () {
  "use strict";
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  var store = {
    get: function (k) { if (!k) { return null; } try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { if (!k) { return; } try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } },
    del: function (k) { try { window.localStorage.removeItem(k); } catch (e) { /* ignore */ } }
  };
  var done = document.querySelector("[data-clear-draft]");
  if (done) { store.del("renke:" + done.getAttribute("data-clear-draft")); return; }
  var form = document.getElementById("answers");
  if (!form) { return; }
  // A preview keeps no draft: it has no key.
  var key = form.getAttribute("data-draft-key") ? "renke:" + form.getAttribute("data-draft-key") : "";
  var items = form.querySelectorAll("fieldset.q");
  var progress = document.getElementById("progress");
  var comment = form.querySelector("textarea[name=comment]");

  function unanswered() {
    var out = [];
    each(items, function (f) { if (!f.querySelector("input:checked")) { out.push(f); } });
    return out;
  }
  function save() {
    var data = {};
    each(form.querySelectorAll("input[type=radio]:checked"), function (r) { data[r.name] = r.value; });
    if (comment) { data.comment = comment.value; }
    store.set(key, JSON.stringify(data));
  }
  function restore() {
    var data;
    try { data = JSON.parse(store.get(key) || "{}"); } catch (e) { return; }
    Object.keys(data).forEach(function (name) {
      if (name === "comment") { if (comment && !comment.value) { comment.value = data.comment; } return; }
      if (form.querySelector("input[name='" + name + "']:checked")) { return; }
      each(form.querySelectorAll("input[type=radio][name='" + name + "']"), function (r) {
        if (r.value === data[name]) { r.checked = true; }
      });
    });
  }
  function update() {
    var left = unanswered();
    progress.hidden = false;
    progress.textContent = "";
    progress.appendChild(document.createTextNode("已答 " + (items.length - left.length) + " / " + items.length + " 题"));
    if (left.length > 0) {
      var jump = document.createElement("a");
      jump.href = "#" + left[0].id;
      jump.className = "jump";
      jump.textContent = "跳到未答题";
      jump.addEventListener("click", function (ev) {
        ev.preventDefault();
        left[0].scrollIntoView({ block: "center" });
        var first = left[0].querySelector("input");
        if (first) { first.focus({ preventScroll: true }); }
      });
      progress.appendChild(document.createTextNode(" · "));
      progress.appendChild(jump);
    }
  }
  // Read aloud, where the browser offers speech synthesis with a voice for the page's language:
  // a button per item reads it and its options. Nothing is fetched from anywhere; without such
  // a voice there is no button.
  var synth = window.speechSynthesis;
  if (synth && window.SpeechSynthesisUtterance) {
    var primary = (document.documentElement.lang || "zh-CN").split("-")[0].toLowerCase();
    var added = false;
    var addButtons = function () {
      var voice = null;
      each(synth.getVoices() || [], function (v) {
        if (!voice && v.lang && v.lang.replace("_", "-").split("-")[0].toLowerCase() === primary) { voice = v; }
      });
      if (added || !voice) { return; }
      added = true;
      each(items, function (f) {
        var legend = f.querySelector("legend");
        var b = document.createElement("button");
        b.type = "button";
        b.className = "btn read-aloud";
        b.textContent = "朗读";
        b.setAttribute("aria-label", "朗读这道题和它的选项");
        b.addEventListener("click", function () {
          synth.cancel();
          var parts = [legend.textContent];
          each(f.querySelectorAll("label.opt span"), function (o) { parts.push(o.textContent); });
          var u = new window.SpeechSynthesisUtterance(parts.join(primary === "zh" ? "。" : ". "));
          u.lang = voice.lang;
          try { u.voice = voice; } catch (e) { /* the language alone picks a voice */ }
          u.rate = 0.9;
          synth.speak(u);
        });
        legend.parentNode.insertBefore(b, legend.nextSibling);
      });
    };
    addButtons();
    if (synth.addEventListener) { synth.addEventListener("voiceschanged", addButtons); }
  }
  restore();
  update();
  form.addEventListener("change", function () { save(); update(); });
  if (comment) { comment.addEventListener("input", save); }
  var errors = document.getElementById("errors");
  if (errors) { errors.focus(); }
})();
