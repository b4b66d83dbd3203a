// Forms that start a job (an upload, an evidence pack). A form marked data-busy-form
// disables its button once submitted (no second import of the same file) and its status
// line says what is happening until the job's page comes, which then shows the progress.
(function () {
  "use strict";
  document.querySelectorAll("form[data-busy-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      var status = form.querySelector("[data-busy-status]");
      if (button) {
        button.disabled = true;
        button.setAttribute("aria-disabled", "true");
        if (status) {
          status.textContent = button.getAttribute("data-busy-label") || "Working…";
        }
      }
    });
  });
  // Back/forward cache: a page shown again must not keep a disabled button.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-busy-form] button[type=submit]").forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("aria-disabled");
    });
  });
})();
