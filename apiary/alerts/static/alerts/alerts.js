/* Alerts pages: live list (Server-Sent Events, polling fallback), toasts, keyboard navigation,
   and the rule preview trigger. No framework: the server renders every row; this file only
   decides where a row goes. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var list = document.getElementById("alert-rows");
  var live = document.getElementById("alerts-live");
  var stateEl = document.getElementById("live-state");
  var toasts = document.getElementById("alert-toasts");

  function setState(state, label) {
    if (!stateEl) return;
    stateEl.dataset.state = state;
    var text = stateEl.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)];
    if (text) stateEl.textContent = text;
    if (label) stateEl.title = label;
  }

  function changed() {
    // The header badge (base.html) listens for this and refreshes its count.
    document.body.dispatchEvent(new CustomEvent("alerts:changed", { bubbles: true }));
  }

  function toast(row) {
    if (!toasts) return;
    var title = row.querySelector(".alert-title");
    var why = row.querySelector(".alert-why");
    var box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "status");
    var link = document.createElement("a");
    link.href = title ? title.getAttribute("href") : "#";
    link.textContent = title ? title.textContent.trim() : "";
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", toasts.dataset.closeLabel || "Close");
    close.textContent = "×";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(link);
    box.appendChild(close);
    if (why) {
      var p = document.createElement("div");
      p.className = "toast-why";
      p.textContent = why.textContent.trim();
      box.appendChild(p);
    }
    toasts.appendChild(box);
    // Unobtrusive: it goes away by itself unless the pointer or focus is on it.
    var timer = setTimeout(function () { box.remove(); }, 12000);
    box.addEventListener("mouseenter", function () { clearTimeout(timer); });
    box.addEventListener("focusin", function () { clearTimeout(timer); });
  }

  function place(fragment) {
    var after = fragment.querySelector("[data-after]");
    if (after && live) live.dataset.after = after.dataset.after;
    fragment.querySelectorAll("[data-remove]").forEach(function (el) {
      (el.dataset.remove || "").split(",").forEach(function (id) {
        var old = id && document.getElementById("alert-" + id);
        if (old) old.remove();
      });
    });
    fragment.querySelectorAll("[data-count-for]").forEach(function (el) {
      var target = document.querySelector('.alert-tabs [data-count="' + el.dataset.countFor + '"]');
      if (target) target.textContent = el.textContent;
    });
    var rows = Array.prototype.slice.call(fragment.querySelectorAll("li.alert-row")).reverse();
    rows.forEach(function (row) {
      var old = document.getElementById(row.id);
      var wasCritical = old && old.dataset.severity === "critical";
      if (old) {
        var hadFocus = old.contains(document.activeElement);
        old.replaceWith(row);
        if (hadFocus) { var t = row.querySelector(".alert-title"); if (t) t.focus(); }
      } else {
        list.insertBefore(row, list.firstChild);
      }
      row.classList.add("is-new");
      if (window.htmx) window.htmx.process(row);
      if (row.dataset.severity === "critical" && !wasCritical && row.dataset.fresh === "1") toast(row);
    });
    var empty = document.getElementById("no-alerts");
    if (empty && list.querySelector("li.alert-row")) empty.remove();
    if (rows.length) changed();
  }

  var busy = false, again = false;
  function refresh() {
    if (!live) return;
    if (busy) { again = true; return; }
    busy = true;
    var url = live.dataset.rowsUrl + (live.dataset.rowsUrl.indexOf("?") < 0 ? "?" : "&") +
      "after=" + encodeURIComponent(live.dataset.after || "0");
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        place(tpl.content);
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var pollTimer = null;
  function poll() {
    if (pollTimer) return;
    setState("polling");
    pollTimer = setInterval(refresh, POLL_MS);
  }

  function connect() {
    if (!live) return;
    if (!window.EventSource || live.dataset.transport === "poll") { poll(); return; }
    var failures = 0;
    var es = new EventSource(live.dataset.streamUrl + "?after=" + encodeURIComponent(live.dataset.after || "0"));
    es.addEventListener("open", function () { failures = 0; setState("live"); });
    es.addEventListener("alert", function () { refresh(); });
    es.addEventListener("error", function () {
      failures += 1;
      // A proxy that buffers or drops the stream: fall back to polling rather than go stale.
      if (failures >= 3 || es.readyState === EventSource.CLOSED) { es.close(); poll(); }
      else setState("connecting");
    });
    // The server ends each stream after a while; EventSource reconnects with Last-Event-ID.
  }

  // Keyboard: j / k move between alerts, Enter opens (native link), a acknowledges.
  function rowsNow() { return list ? Array.prototype.slice.call(list.querySelectorAll("li.alert-row")) : []; }
  function focusRow(i) {
    var rows = rowsNow();
    if (!rows.length) return;
    i = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r) { r.classList.remove("is-current"); });
    rows[i].classList.add("is-current");
    var t = rows[i].querySelector(".alert-title");
    if (t) t.focus();
  }
  document.addEventListener("keydown", function (e) {
    if (!list || e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) return;
    var rows = rowsNow();
    var current = rows.findIndex(function (r) { return r.contains(document.activeElement); });
    if (e.key === "j") { e.preventDefault(); focusRow(current + 1); }
    else if (e.key === "k") { e.preventDefault(); focusRow(current < 0 ? 0 : current - 1); }
    else if (e.key === "a" && current >= 0) {
      var ack = rows[current].querySelector("form.ack button");
      if (ack) { e.preventDefault(); ack.click(); }
    }
  });

  // The rule form: htmx asks for the preview on change; announce the count politely.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "rule-preview") e.target.setAttribute("aria-busy", "false");
  });

  // The detail page: say when the alert changed meanwhile (escalated, acknowledged elsewhere).
  var detail = document.getElementById("alert-detail");
  if (detail && window.EventSource && detail.dataset.streamUrl) {
    var des = new EventSource(detail.dataset.streamUrl + "?after=" + encodeURIComponent(detail.dataset.after || "0"));
    des.addEventListener("alert", function (ev) {
      var data = {};
      try { data = JSON.parse(ev.data); } catch (err) { return; }
      if (String(data.alert_id) === detail.dataset.alertId) {
        var note = document.getElementById("alert-changed");
        if (note) note.hidden = false;
      }
    });
  }

  connect();
})();
