// Live updates by short polling: every element with data-live="URL" is refreshed from that
// URL (an HTML fragment the server renders with the same templates) every data-every ms.
// Polling, not Server-Sent Events: one small request per interval survives proxies and
// server restarts without reconnect logic, and a page nobody looks at (hidden tab) is paused.
"use strict";
(function () {
  function refresh(region) {
    var url = region.getAttribute("data-live");
    var every = parseInt(region.getAttribute("data-every") || "2000", 10);
    function schedule() { window.setTimeout(tick, every); }
    function tick() {
      if (document.hidden) { schedule(); return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null) { schedule(); return; }
          if (html !== region.innerHTML) {
            // Keep keyboard focus on the element that had it (same id after the swap).
            var focused = document.activeElement && region.contains(document.activeElement)
              ? document.activeElement.id : "";
            region.innerHTML = html;
            if (focused) { var again = document.getElementById(focused); if (again) { again.focus(); } }
            region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
          }
          // A sync that has ended stops changing (Retry reloads the page): stop polling.
          if (!region.querySelector("[data-ended='true']")) { schedule(); }
        })
        .catch(schedule);
    }
    schedule();
  }
  // The Retry/Cancel buttons sit outside the live region (so a refresh never steals focus
  // from them); bring them in line with the state the last refresh showed.
  function syncActions(live) {
    var retry = document.getElementById("retry");
    if (retry) { retry.disabled = live.getAttribute("data-failed") === "0"; }
    var cancel = document.getElementById("cancel");
    if (cancel && live.getAttribute("data-ended") === "true") { cancel.remove(); }
  }
  document.addEventListener("live:updated", function (event) {
    var live = event.target.querySelector(".sync-live");
    if (live) { syncActions(live); }
  });
  document.querySelectorAll("[data-live]").forEach(refresh);
})();
