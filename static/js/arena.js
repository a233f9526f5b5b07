// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // After a failed save, put the keyboard (and the screen reader) on the first field to correct.
  function focusFirstError() {
    var field = document.querySelector('form [aria-invalid="true"]');
    if (field) {
      field.focus();
    }
  }

  // The sync card (#sync-card, aria-live="polite") follows what happens without a reload: the server renders
  // the same partial at data-refresh-url. Every few seconds while records are on their way to Xero, at a
  // calm rate otherwise (a change made in Xero, a failure, a pause), and at once when the tab is shown
  // again; never while the tab is hidden.
  var BUSY_MS = 3000;
  var IDLE_MS = 10000;
  var timer = null;
  var fetching = false;

  // The CSRF token is masked afresh on every render: ignore it when telling whether the card changed.
  function comparable(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "").trim();
  }

  function inProgress(card) {
    var sync = card.querySelector("[data-in-progress]");
    return sync !== null && parseInt(sync.getAttribute("data-in-progress"), 10) > 0;
  }

  function stop(card) {
    window.clearTimeout(timer);
    timer = null;
    card.setAttribute("data-refresh-stopped", "true");
  }

  function refresh(card) {
    if (fetching || card.hasAttribute("data-refresh-stopped")) {
      return;
    }
    fetching = true;
    fetch(card.getAttribute("data-refresh-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
      cache: "no-store",
    })
      .then(function (response) {
        // Logged out or gone: stop quietly; a reload shows why.
        if (!response.ok || response.redirected) {
          throw new Error("sync card: HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        fetching = false;
        var fresh = html.trim();
        if (comparable(fresh) !== comparable(card.innerHTML)) {
          var focusedId = card.contains(document.activeElement) ? document.activeElement.id : null;
          card.innerHTML = fresh;
          if (focusedId && document.getElementById(focusedId)) {
            document.getElementById(focusedId).focus();
          }
        }
        card.setAttribute("data-refreshed", String(Date.now()));
        schedule(card);
      })
      .catch(function () {
        fetching = false;
        stop(card);
      });
  }

  function schedule(card) {
    window.clearTimeout(timer);
    timer = null;
    if (!document.hidden) {
      timer = window.setTimeout(function () { refresh(card); }, inProgress(card) ? BUSY_MS : IDLE_MS);
    }
  }

  function follow(card) {
    schedule(card);
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        window.clearTimeout(timer);
        timer = null;
      } else {
        refresh(card);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError();
    var card = document.getElementById("sync-card");
    if (card && window.fetch) {
      follow(card);
    }
  });
})();
