// Contact import. A separate file rather than inline script, so a strict Content-Security-Policy
// allows it.
// - Confirmation step: once confirmed the button is disabled (no second submit).
// - Progress page: polls the page's JSON twin about once a second and updates the counts until
//   the worker has finished the import (done or failed).
(function () {
  "use strict";
  const form = document.getElementById("confirm-import");
  if (form) {
    form.addEventListener("submit", function () {
      // Disabled after the submit event, so the browser still sends the button's name.
      setTimeout(function () { form.querySelector("[name=confirm]").disabled = true; }, 0);
      document.getElementById("import-progress").hidden = false;
    });
  }

  const root = document.getElementById("import-status");
  if (!root) return;
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };

  function render(data) {
    for (const key of ["processed", "total", "new", "updated", "skipped", "invalid"]) {
      for (const node of root.querySelectorAll('[data-count="' + key + '"]')) {
        node.textContent = data[key];
      }
    }
    root.dataset.status = data.status;
    root.querySelector('[data-field="status"]').textContent = labels[data.status] || data.status;
    const bar = document.getElementById("import-bar");
    bar.max = data.total || 1;
    bar.value = data.processed;
    document.getElementById("import-done").hidden = data.status !== "done";
    document.getElementById("import-failed").hidden = data.status !== "failed";
    document.getElementById("import-error").textContent = data.error;
    return !data.finished;
  }

  function poll() {
    fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => { if (render(data)) setTimeout(poll, 1000); })
      .catch(() => setTimeout(poll, 5000));
  }
  if (root.dataset.status !== "done" && root.dataset.status !== "failed") setTimeout(poll, 1000);
})();
