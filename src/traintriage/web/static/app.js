// traintriage: keyboard shortcuts and auto-refresh. No inline scripts (the CSP forbids them).
(function () {
  "use strict";
  var body = document.body;

  // Auto-refresh (train page): reload every data-refresh seconds unless the user is typing.
  var every = parseInt(body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    setInterval(function () {
      var el = document.activeElement;
      var typing = el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
      if (!typing && !document.hidden) { window.location.reload(); }
    }, every * 1000);
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var current = -1;
  function select(i) {
    if (!rows.length) { return; }
    i = Math.max(0, Math.min(rows.length - 1, i));
    if (current >= 0 && rows[current]) { rows[current].classList.remove("selected"); }
    current = i;
    rows[i].classList.add("selected");
    rows[i].scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem("tt-row:" + location.pathname + location.search, rows[i].getAttribute("data-sig")); } catch (e) { /* private mode */ }
  }
  // Come back to the row after a review (the page reloads after each POST): the next untriaged one.
  if (rows.length) {
    var saved = null;
    try { saved = sessionStorage.getItem("tt-row:" + location.pathname + location.search); } catch (e) { saved = null; }
    var start = 0;
    for (var r = 0; r < rows.length; r++) {
      if (rows[r].getAttribute("data-sig") === saved) { start = r; break; }
    }
    if (rows[start] && rows[start].classList.contains("done")) {
      for (var s = 0; s < rows.length; s++) { if (!rows[s].classList.contains("done")) { start = s; break; } }
    }
    select(start);
  }
  function submitVerdict(key) {
    if (current < 0) { return false; }
    var button = rows[current].querySelector('button[data-key="' + key + '"]');
    if (!button) { return false; }
    button.click();
    return true;
  }

  var help = document.getElementById("help");
  var pendingG = false;
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) {
      if (ev.key === "Escape") { t.blur(); }
      if (ev.key === "Enter" && t.classList.contains("task-input")) { ev.preventDefault(); t.blur(); }
      return;
    }
    var key = ev.key;
    if (pendingG) {
      pendingG = false;
      var go = { t: "/train", q: "/queue", s: "/search" }[key];
      if (go) { window.location.href = go; ev.preventDefault(); }
      return;
    }
    if (key === "?") { if (help) { help.hidden = !help.hidden; } ev.preventDefault(); return; }
    if (key === "Escape") { if (help) { help.hidden = true; } return; }
    if (key === "/") {
      var q = document.getElementById("quick-search");
      if (q) { q.focus(); ev.preventDefault(); }
      return;
    }
    if (key === "g") { pendingG = true; return; }
    if (key === "r") { window.location.reload(); return; }
    if (key === "j" || key === "ArrowDown") { if (rows.length) { select(current + 1); ev.preventDefault(); } return; }
    if (key === "k" || key === "ArrowUp") { if (rows.length) { select(current - 1); ev.preventDefault(); } return; }
    if ((key === "o" || key === "Enter") && current >= 0) {
      var link = rows[current].querySelector("a.open");
      if (link) { window.location.href = link.getAttribute("href"); ev.preventDefault(); }
      return;
    }
    if (key === "t" && current >= 0) {
      var input = rows[current].querySelector(".task-input");
      if (input) { input.focus(); ev.preventDefault(); }
      return;
    }
    if (["b", "n", "K", "e", "i"].indexOf(key) >= 0) {
      if (submitVerdict(key)) { ev.preventDefault(); }
    }
  });
})();
