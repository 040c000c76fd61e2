/* Care inbox: SLA countdowns, the live feed (SSE, polling fallback), presence heartbeats and the
 * composer (canned responses, @mentions, send shortcut). Vanilla JS + htmx; no build step.
 * Strings shown to people come from the page (data-i18n-* attributes), so they are translated
 * by Django like everything else. */
(function () {
  "use strict";

  var root = document.documentElement;
  function $(sel, el) { return (el || document).querySelector(sel); }
  function $all(sel, el) { return Array.prototype.slice.call((el || document).querySelectorAll(sel)); }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = $("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function i18n(name, fallback) {
    var holder = $("[data-care-i18n]");
    return (holder && holder.dataset[name]) || fallback;
  }

  // --- SLA countdown ---------------------------------------------------------------------------
  // The server renders due_at and the state; we only tick the clock so the page stays honest
  // between refreshes. "warning" starts at data-sla-warn seconds before the deadline.
  function fmt(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h >= 24) return Math.floor(h / 24) + "d " + (h % 24) + "h";
    if (h > 0) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    return m + ":" + (sec < 10 ? "0" : "") + sec;
  }
  function tickSla() {
    var now = Date.now();
    $all("[data-sla-due]").forEach(function (el) {
      var state = el.dataset.slaState;
      if (state !== "running" && state !== "warning" && state !== "breached") return;
      var due = Date.parse(el.dataset.slaDue);
      if (isNaN(due)) return;
      var left = (due - now) / 1000;
      var warn = parseInt(el.dataset.slaWarn || "300", 10);
      var cls = left <= 0 ? "breached" : (left <= warn ? "warning" : "running");
      // Never look calmer than the server said (its warning rule may start earlier).
      var rank = { running: 0, warning: 1, breached: 2 };
      if (rank[state] > rank[cls]) cls = state;
      el.classList.remove("sla-running", "sla-warning", "sla-breached");
      el.classList.add("sla-" + cls);
      var label = left <= 0 ? i18n("overdue", "overdue") : i18n("left", "left");
      el.querySelector(".sla-text").textContent = fmt(left) + " " + label;
    });
  }
  setInterval(tickSla, 1000);

  // --- Live feed --------------------------------------------------------------------------------
  // One EventSource per page. The server ends each stream after a while (so connections recycle
  // across processes); EventSource reconnects with Last-Event-ID. If the browser cannot keep a
  // stream open (proxy, no EventSource), poll the JSON feed every 2 s instead.
  var live = { last: 0, handlers: [], source: null, polling: null, failures: 0 };
  function dispatch(ev) {
    if (ev.id && ev.id > live.last) live.last = ev.id;
    live.handlers.forEach(function (fn) { try { fn(ev); } catch (e) { console.error(e); } });
  }
  function setLiveState(on) {
    $all(".live-dot").forEach(function (el) {
      el.classList.toggle("on", on);
      el.classList.toggle("off", !on);
      el.title = on ? i18n("liveOn", "Live") : i18n("liveOff", "Reconnecting…");
    });
  }
  function startPolling(feed) {
    if (live.polling) return;
    setLiveState(true);
    live.polling = setInterval(function () {
      fetch(feed + "?after=" + live.last, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) {
          setLiveState(true);
          (body.events || []).forEach(dispatch);
          if (body.last && body.last > live.last) live.last = body.last;
        })
        .catch(function () { setLiveState(false); });
    }, 2000);
  }
  function startLive() {
    var el = $("[data-care-stream]");
    if (!el) return;
    live.last = parseInt(el.dataset.after || "0", 10);
    var stream = el.dataset.careStream, feed = el.dataset.careFeed;
    if (el.dataset.mode === "poll" || !window.EventSource) { startPolling(feed); return; }
    var es = new EventSource(stream + "?after=" + live.last);
    live.source = es;
    es.onopen = function () { live.failures = 0; setLiveState(true); };
    es.onmessage = function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      dispatch(ev);
    };
    es.onerror = function () {
      setLiveState(false);
      live.failures += 1;
      // The browser retries by itself; after repeated failures fall back to polling.
      if (live.failures >= 4 || es.readyState === EventSource.CLOSED) {
        es.close();
        startPolling(feed);
      }
    };
    window.addEventListener("beforeunload", function () { es.close(); });
  }

  // --- Inbox page -------------------------------------------------------------------------------
  function initInbox() {
    var list = $("#conv-list");
    if (!list) return;
    var pending = {}, timer = null, busy = false;
    function refresh() {
      timer = null;
      if (list.dataset.live !== "1") return;  // a later page: do not move rows under the reader
      // One refresh at a time; events that arrive meanwhile trigger one more afterwards.
      if (busy) { timer = setTimeout(refresh, 250); return; }
      var ids = Object.keys(pending);
      pending = {};
      busy = true;
      var done = function () {
        busy = false;
        ids.forEach(function (id) {
          var row = document.getElementById("conv-" + id);
          if (row) { row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash"); }
        });
        tickSla();
      };
      htmx.ajax("GET", list.dataset.rowsUrl, { source: "#conv-list", target: "#conv-list", swap: "innerHTML" }).then(done, done);
    }
    live.handlers.push(function (ev) {
      if (ev.kind === "presence") return;
      if (ev.conversation_id) pending[ev.conversation_id] = 1;
      if (!timer) timer = setTimeout(refresh, 250);
    });
    // j / k move through the rows, Enter opens, x toggles nothing (the row is a link).
    document.addEventListener("keydown", function (e) {
      if (e.target.closest("input,textarea,select,[contenteditable]") || e.metaKey || e.ctrlKey || e.altKey) return;
      var rows = $all(".conv-row", list);
      if (!rows.length) return;
      var current = rows.findIndex(function (r) { return r.classList.contains("is-selected"); });
      if (e.key === "j" || e.key === "k") {
        var next = e.key === "j" ? Math.min(rows.length - 1, current + 1) : Math.max(0, current - 1);
        if (current >= 0) rows[current].classList.remove("is-selected");
        rows[next].classList.add("is-selected");
        $("a.stretch", rows[next]).focus();
        e.preventDefault();
      } else if (e.key === "Enter" && current >= 0) {
        $("a.stretch", rows[current]).click();
      }
    });
  }

  // --- Conversation page ------------------------------------------------------------------------
  function initConversation() {
    var page = $("[data-conversation]");
    if (!page) return;
    var cid = parseInt(page.dataset.conversation, 10);
    var urls = page.dataset;
    var timers = {};
    var running = {};
    function later(key, fn) {
      if (timers[key]) return;
      timers[key] = setTimeout(function () {
        timers[key] = null;
        // htmx drops a request on an element that is still loading: try again right after.
        if (running[key]) { later(key, fn); return; }
        running[key] = true;
        Promise.resolve(fn()).then(function () { running[key] = false; }, function () { running[key] = false; });
      }, 200);
    }
    function reload(url, target) {
      // The target is also the source: without one htmx issues every call from <body>, and
      // drops a call while another is still in flight.
      return htmx.ajax("GET", url, { source: target, target: target, swap: "outerHTML" }).then(tickSla);
    }
    function scrollThread() { var t = $("#thread"); if (t) t.scrollTop = t.scrollHeight; }
    scrollThread();
    live.handlers.push(function (ev) {
      if (ev.conversation_id !== cid) return;
      if (ev.kind === "presence") { later("presence", heartbeat); return; }
      if (ev.kind === "message.created" || ev.kind === "message.delivery") {
        later("thread", function () { checkStale(); return reload(urls.threadUrl, "#thread").then(scrollThread); });
      }
      if (ev.kind !== "message.delivery") {
        later("head", function () { return reload(urls.headUrl, "#conv-header"); });
        later("side", function () { return reload(urls.sideUrl, "#care-side"); });
      }
    });

    // Presence: "viewing" every few seconds, "typing" while the textarea is being edited. The
    // answer is the banner about the others, so one request does both.
    var lastKey = 0;
    function state() { return Date.now() - lastKey < 5000 ? "typing" : "viewing"; }
    function heartbeat() {
      if (document.hidden) return;
      var body = new FormData();
      body.append("state", state());
      fetch(urls.presenceUrl, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrf(), "HX-Request": "true" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var banner = $("#presence");
          if (html !== null && banner) banner.outerHTML = html;
        }).catch(function () {});
    }
    heartbeat();
    setInterval(heartbeat, parseInt(urls.heartbeat || "4000", 10));
    var typingSent = 0;
    document.addEventListener("input", function (e) {
      if (!e.target.matches("#composer textarea")) return;
      lastKey = Date.now();
      if (Date.now() - typingSent > 3000) { typingSent = Date.now(); heartbeat(); }
    });

    // Stale version: when the thread shows a newer version than the composer holds, say so
    // before the agent presses send (the server still refuses a stale send with 409).
    function checkStale() {
      setTimeout(function () {
        var thread = $("#thread"), form = $("#composer form");
        if (!thread || !form) return;
        var seen = parseInt(form.elements.version.value, 10), now = parseInt(thread.dataset.version || "0", 10);
        var note = $("#stale-note");
        if (note) note.hidden = !(now > seen && form.elements.text.value.trim());
      }, 400);
    }
    document.addEventListener("input", function (e) { if (e.target.matches("#composer textarea")) checkStale(); });
    initComposer();
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.detail.target && e.detail.target.id === "composer") { initComposer(); scrollThread(); }
    });
    // r = reply, n = note (when not typing already).
    document.addEventListener("keydown", function (e) {
      if (e.target.closest("input,textarea,select,[contenteditable]") || e.metaKey || e.ctrlKey || e.altKey) return;
      var form = $("#composer form");
      if (!form) return;
      if (e.key === "r" || e.key === "n") {
        var radio = form.querySelector("input[name=mode][value=" + (e.key === "r" ? "reply" : "note") + "]");
        if (radio && !radio.disabled) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
        form.elements.text.focus();
        e.preventDefault();
      }
    });
  }

  function initComposer() {
    var box = $("#composer");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    var form = $("form", box);
    if (!form) return;
    var text = form.elements.text;
    var count = $(".charcount", box);
    var limit = parseInt(box.dataset.limit || "0", 10);
    function mode() { var m = form.querySelector("input[name=mode]:checked"); return m ? m.value : "reply"; }
    function applyMode() {
      var note = mode() === "note";
      box.classList.toggle("is-note", note);
      form.action = note ? box.dataset.noteUrl : box.dataset.replyUrl;
      form.setAttribute("hx-post", form.action);
      if (window.htmx) htmx.process(form);
      text.placeholder = note ? box.dataset.notePlaceholder : box.dataset.replyPlaceholder;
      $all("[data-reply-only]", box).forEach(function (el) { el.hidden = note; });
      var send = $("button[type=submit]", form);
      if (send) send.textContent = note ? box.dataset.noteLabel : box.dataset.replyLabel;
      var cannot = $("#cannot-reply", box);
      if (send) send.disabled = !note && !!cannot;
      updateCount();
    }
    function updateCount() {
      if (!count) return;
      var n = Array.from(text.value).length;
      count.textContent = limit && mode() === "reply" ? n + " / " + limit : String(n);
      count.classList.toggle("over", !!limit && mode() === "reply" && n > limit);
    }
    form.addEventListener("change", function (e) { if (e.target.name === "mode") applyMode(); });
    text.addEventListener("input", updateCount);
    applyMode();

    // Canned responses: the bodies are rendered on the server (variables filled in) and kept in
    // <template> elements; picking one fills the textarea and remembers which one it was.
    var picker = $("#canned-picker", box);
    if (picker) {
      picker.addEventListener("change", function () {
        var tpl = document.getElementById("canned-" + picker.value);
        if (!tpl) return;
        text.value = tpl.content.textContent.trim();
        form.elements.canned_response_id.value = picker.value;
        text.focus();
        text.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    text.addEventListener("keydown", function (e) {
      // Ctrl/Cmd+Enter sends; "/" at the very start opens the canned responses.
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        var send = $("button[type=submit]", form);
        if (send && !send.disabled) form.requestSubmit(send);
      } else if (e.key === "/" && text.value === "" && picker && mode() === "reply") {
        e.preventDefault();
        picker.focus();
        if (picker.showPicker) { try { picker.showPicker(); } catch (err) { /* not allowed */ } }
      }
    });
    text.addEventListener("input", function () {
      // A text edited after picking a canned response still counts as that response.
      if (!text.value.trim()) form.elements.canned_response_id.value = "";
    });
    initMentions(box, text, mode);
  }

  // @mention autocomplete of colleagues (notes only).
  function initMentions(box, text, mode) {
    var data = $("#colleagues");
    if (!data) return;
    var people = JSON.parse(data.textContent || "[]");
    var menu = document.createElement("ul");
    menu.className = "at-menu";
    menu.id = "at-menu";
    menu.setAttribute("role", "listbox");
    menu.setAttribute("aria-label", i18n("colleagues", "Colleagues"));
    menu.hidden = true;
    text.parentNode.appendChild(menu);
    text.setAttribute("aria-controls", "at-menu");
    text.setAttribute("aria-autocomplete", "list");
    var matches = [], active = 0, start = -1;
    function close() { menu.hidden = true; start = -1; text.setAttribute("aria-expanded", "false"); }
    function render() {
      menu.innerHTML = "";
      matches.forEach(function (p, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = "at-opt-" + i;
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.textContent = p.name;
        var hint = document.createElement("span");
        hint.className = "hint";
        hint.textContent = "@" + p.handle;
        li.appendChild(hint);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(i); });
        menu.appendChild(li);
      });
      menu.hidden = !matches.length;
      text.setAttribute("aria-expanded", matches.length ? "true" : "false");
      if (matches.length) text.setAttribute("aria-activedescendant", "at-opt-" + active);
      menu.style.left = "0";
      menu.style.top = text.offsetTop + text.offsetHeight + "px";
    }
    function pick(i) {
      var p = matches[i];
      if (!p || start < 0) return;
      var caret = text.selectionStart;
      text.value = text.value.slice(0, start) + "@" + p.handle + " " + text.value.slice(caret);
      var pos = start + p.handle.length + 2;
      text.setSelectionRange(pos, pos);
      close();
      text.dispatchEvent(new Event("input", { bubbles: true }));
    }
    text.addEventListener("input", function () {
      if (mode() !== "note") { close(); return; }
      var caret = text.selectionStart, before = text.value.slice(0, caret);
      var m = before.match(/(^|\s)@([\w.\-]*)$/);
      if (!m) { close(); return; }
      start = caret - m[2].length - 1;
      var q = m[2].toLowerCase();
      matches = people.filter(function (p) {
        return p.handle.toLowerCase().indexOf(q) === 0 || p.name.toLowerCase().indexOf(q) >= 0;
      }).slice(0, 8);
      active = 0;
      render();
    });
    text.addEventListener("keydown", function (e) {
      if (menu.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        active = (active + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
        render();
        e.preventDefault();
      } else if (e.key === "Enter" || e.key === "Tab") {
        pick(active);
        e.preventDefault();
      } else if (e.key === "Escape") {
        close();
        e.preventDefault();
      }
    });
    text.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  // htmx swaps 2xx only by default; our 409 (someone else changed the conversation) and 422
  // (invalid input) answers carry the form to show again, so swap them too.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var s = e.detail.xhr.status;
    if (s === 409 || s === 422 || s === 403) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });

  function init() {
    tickSla();
    initInbox();
    initConversation();
    startLive();
    root.classList.add("care-js");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
