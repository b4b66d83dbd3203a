// The system form shows the settings of the chosen kind only (the server reads only those).
(function () {
  "use strict";
  var kind = document.getElementById("id_kind");
  if (!kind) {
    return;
  }
  function show() {
    document.querySelectorAll("fieldset[data-kind]").forEach(function (fieldset) {
      fieldset.hidden = fieldset.getAttribute("data-kind") !== kind.value;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
