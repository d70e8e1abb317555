// A contact job run by the worker (a large delete or export). A separate file rather than inline script,
// so a strict Content-Security-Policy allows it. Polls the page's JSON twin about once a
// second and updates the counts until the worker has finished (done or failed).
(function () {
  "use strict";
  const root = document.getElementById("job-status");
  if (!root) return;
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };
  const doneKey = root.dataset.doneKey;

  function render(data) {
    for (const node of root.querySelectorAll("[data-count]")) {
      if (node.dataset.count in data) node.textContent = data[node.dataset.count];
    }
    root.dataset.status = data.status;
    root.querySelector('[data-field="status"]').textContent = labels[data.status] || data.status;
    const bar = doneKey ? document.getElementById("job-bar") : null;
    if (bar) {
      bar.max = data.total || 1;
      bar.value = data[doneKey];
    }
    document.getElementById("job-done").hidden = data.status !== "done";
    document.getElementById("job-failed").hidden = data.status !== "failed";
    document.getElementById("job-error").textContent = data.error;
    // A finished export's page is read again from the server: its download link.
    if (data.finished && root.dataset.reloadWhenDone) window.location.reload();
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
