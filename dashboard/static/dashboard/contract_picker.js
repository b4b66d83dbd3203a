// The contract picker: a ticked contract moves to the chosen list, which searches never
// replace; results that arrive for a search sent before the tick drop their copy of it.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var box = event.target;
    var chosen = document.getElementById("contract-picker-chosen");
    if (!chosen || !box.matches || !box.matches("#contract-picker-results input[name=contracts]")) {
      return;
    }
    if (box.checked) {
      chosen.appendChild(box.closest(".usa-checkbox"));
      box.focus();
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var chosen = document.getElementById("contract-picker-chosen");
    var results = document.getElementById("contract-picker-results");
    if (!chosen || !results) {
      return;
    }
    chosen.querySelectorAll("input[name=contracts]").forEach(function (kept) {
      results.querySelectorAll("input[name=contracts]").forEach(function (copy) {
        if (copy.value === kept.value) {
          copy.closest(".usa-checkbox").remove();
        }
      });
    });
  });
})();
