// Small behaviour for the Sundown dashboard. Loaded from our own host; no inline script.
(function () {
  "use strict";
  // htmx requests carry the CSRF token like the forms do.
  document.addEventListener("htmx:configRequest", function (event) {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
    }
  });
})();
