// Long operations started from a page. A form marked data-busy-form disables its button
// once submitted (no second import of the same file) and its status line says what is
// happening until the answer comes. A link marked data-busy-link (an evidence pack built
// on request) writes its text into the page's data-busy-status line when followed.
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
  document.querySelectorAll("a[data-busy-link]").forEach(function (link) {
    link.addEventListener("click", function () {
      var status = document.querySelector("[data-busy-status]");
      if (status) {
        status.textContent = link.getAttribute("data-busy-link");
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
