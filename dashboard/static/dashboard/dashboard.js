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
  // The revocation queue refreshes every 10 s. Its live region (#queue-status) gets the
  // counts only when they change, so a screen reader hears changes, not every refresh.
  document.addEventListener("htmx:afterSwap", function (event) {
    var status = document.getElementById("queue-status");
    var summary = event.detail.target.querySelector("[data-queue-summary]");
    if (!status || !summary) {
      return;
    }
    var text = summary.getAttribute("data-queue-summary");
    if (status.getAttribute("data-last") !== text) {
      status.setAttribute("data-last", text);
      status.textContent = "Queue changed: " + text + ".";
    }
  });
  var initial = document.querySelector("[data-queue-summary]");
  var status = document.getElementById("queue-status");
  if (initial && status) {
    status.setAttribute("data-last", initial.getAttribute("data-queue-summary"));
  }
})();
