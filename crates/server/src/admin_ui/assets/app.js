// Posada dashboard: live updates (SSE), calendar selection, copy buttons, tap info.
// Everything works without this file; it only makes it quicker.
(function () {
  "use strict";

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast";
    t.setAttribute("role", "status");
    t.textContent = text; // never innerHTML: the text may contain what a guest typed
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, 6000);
  }

  // Re-fetch this page and swap every [data-live] section that has an id.
  var refreshing = false;
  function refresh() {
    if (refreshing) return;
    refreshing = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) el.replaceWith(document.importNode(fresh, true));
        });
        bindCalendar();
        scrollThread();
        document.body.dataset.refreshed = String(Date.now());
      })
      .finally(function () { refreshing = false; });
  }

  function live() {
    var url = document.body.dataset.liveUrl;
    if (!url || !window.EventSource) return;
    var es = new EventSource(url);
    es.addEventListener("cambio", function (ev) {
      try {
        var data = JSON.parse(ev.data);
        if (data.message) toast(data.message);
      } catch (e) { /* ignore */ }
      refresh();
    });
    es.onopen = function () { document.body.dataset.live = "on"; };
    // Free the connection when leaving the page (browsers allow only a few per host).
    window.addEventListener("pagehide", function () { es.close(); });
    window.addEventListener("pageshow", function (ev) { if (ev.persisted) location.reload(); });
  }

  // A chat thread opens at its newest message.
  function scrollThread() {
    var t = document.getElementById("thread");
    if (t) t.scrollTop = t.scrollHeight;
  }

  // Calendar: tap the first and the last free night of a cabin.
  var sel = null;
  function cells(unit) {
    return Array.prototype.slice.call(document.querySelectorAll('td[data-unit="' + unit + '"]'));
  }
  function addDays(iso, n) {
    var d = new Date(iso + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function clearSel() {
    document.querySelectorAll("td.selected").forEach(function (c) { c.classList.remove("selected"); });
  }
  function fill(unit, first, last) {
    var f = document.getElementById("form-nueva");
    if (!f) return;
    f.querySelector('[name="unit"]').value = unit;
    f.querySelector('[name="check_in"]').value = first;
    f.querySelector('[name="check_out"]').value = addDays(last, 1);
  }
  function onCell(td) {
    if (td.classList.contains("past")) return;
    var unit = td.dataset.unit, date = td.dataset.date;
    if (!sel || sel.unit !== unit || date < sel.first || sel.done) {
      clearSel();
      sel = { unit: unit, first: date, done: false };
      td.classList.add("selected");
      fill(unit, date, date);
      toast("Primera noche elegida. Tocá la última noche.");
      return;
    }
    // All nights between must be free.
    var range = cells(unit).filter(function (c) { return c.dataset.date >= sel.first && c.dataset.date <= date; });
    var expected = Math.round((Date.parse(date) - Date.parse(sel.first)) / 864e5) + 1;
    if (range.length !== expected) {
      toast("Hay noches ocupadas en el medio; elegí otro rango.");
      clearSel();
      sel = null;
      return;
    }
    range.forEach(function (c) { c.classList.add("selected"); });
    sel.done = true;
    fill(unit, sel.first, date);
    var f = document.getElementById("nueva");
    if (f && f.scrollIntoView) f.scrollIntoView({ behavior: "smooth", block: "start" });
  }
  function bindCalendar() {
    var cal = document.getElementById("calendario");
    if (!cal || cal.dataset.bound) return;
    cal.dataset.bound = "1";
    cal.addEventListener("click", function (ev) {
      var td = ev.target.closest("td");
      if (!td) return;
      if (td.classList.contains("c-free")) { onCell(td); return; }
      if (td.dataset.info && !ev.target.closest("a")) toast(td.dataset.info);
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (b) {
      var input = document.getElementById(b.dataset.copy);
      if (input) {
        input.select();
        if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(function () {});
        else document.execCommand("copy");
        toast("Dirección copiada.");
      }
    }
    var c = ev.target.closest("[data-confirm]");
    if (c && !window.confirm(c.dataset.confirm)) ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    bindCalendar();
    scrollThread();
    live();
  });
})();
