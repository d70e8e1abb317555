// Contact import, confirmation step: the import runs in this request, so once confirmed the
// button is disabled (no second submit) and a progress note says to wait. A separate file
// rather than inline script, so a strict Content-Security-Policy allows it.
(function () {
  "use strict";
  const form = document.getElementById("confirm-import");
  if (!form) return;
  form.addEventListener("submit", function () {
    // Disabled after the submit event, so the browser still sends the button's name.
    setTimeout(function () { form.querySelector("[name=confirm]").disabled = true; }, 0);
    document.getElementById("import-progress").hidden = false;
  });
})();
