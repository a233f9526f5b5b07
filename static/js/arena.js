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

  // The sync card (#sync-card, aria-live="polite") refreshes itself every few seconds while records
  // are on their way to Xero: the server renders the same partial at data-refresh-url.
  var POLL_MS = 3000;

  // The CSRF token is masked afresh on every render: ignore it when telling whether the card changed.
  function comparable(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "").trim();
  }

  function inProgress(card) {
    var sync = card.querySelector("[data-in-progress]");
    return sync !== null && parseInt(sync.getAttribute("data-in-progress"), 10) > 0;
  }

  function refresh(card) {
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
        card.setAttribute("data-refresh-stopped", "true");
      });
  }

  function schedule(card) {
    if (inProgress(card)) {
      window.setTimeout(function () { refresh(card); }, POLL_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError();
    var card = document.getElementById("sync-card");
    if (card && window.fetch) {
      schedule(card);
    }
  });
})();
