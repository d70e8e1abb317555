// The export page's "Select all": ticks or clears every field of the export. A file, not the
// library's inline onchange handler, so the Content-Security-Policy allows it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("select-all-toggle");
  if (!toggle) return;
  const boxes = () => document.querySelectorAll('.selectable-field-export-row input[type="checkbox"]');
  toggle.addEventListener("change", () => {
    boxes().forEach((box) => { box.checked = toggle.checked; });
  });
  // Clearing one field clears "Select all"; ticking the last one ticks it again.
  boxes().forEach((box) => box.addEventListener("change", () => {
    toggle.checked = Array.from(boxes()).every((b) => b.checked);
  }));
});
