// Push progress page: polls the page's JSON twin and updates the counts until nothing is queued.
// A separate file rather than inline script, so a strict Content-Security-Policy allows it.
(function () {
  "use strict";
  const root = document.getElementById("push-progress");
  if (!root) return;
  const changeUrl = (id) => window.location.pathname.replace(/push-progress\/[^/]+\/$/, id + "/change/");

  function render(data) {
    for (const key of ["queued", "done", "failed"]) {
      root.querySelector('[data-count="' + key + '"]').textContent = data[key];
    }
    const bar = document.getElementById("push-bar");
    bar.max = data.total;
    bar.value = data.done + data.failed;
    const list = document.getElementById("push-failures");
    if (data.failures.length) {
      list.replaceChildren(...data.failures.map(function (failure) {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = changeUrl(failure.contact_id);
        link.textContent = failure.contact;
        item.append(link, " → " + failure.connection + ": " + failure.error);
        return item;
      }));
    }
    document.getElementById("push-finished").hidden = data.queued > 0;
    // "This page updates by itself" and "None so far" only while pushes are left (sync.css).
    root.toggleAttribute("data-finished", data.queued === 0);
    return data.queued > 0;
  }

  function poll() {
    fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => { if (render(data)) setTimeout(poll, 1000); })
      .catch(() => setTimeout(poll, 5000));
  }
  setTimeout(poll, 1000);
})();
