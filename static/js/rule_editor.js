// A rule's admin page: a click on a variable in the panel beside the condition inserts its
// path at the cursor, and the condition is checked again (htmx listens for keyup).
// Loaded as a file (strict CSP); the listener is delegated, so the panel htmx swaps in works.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.variable[data-insert]");
  const area = document.querySelector("textarea[name=condition]");
  if (!button || !area) return;
  const text = button.dataset.insert;
  const start = area.selectionStart;
  area.value = area.value.slice(0, start) + text + area.value.slice(area.selectionEnd);
  area.focus();
  area.selectionStart = area.selectionEnd = start + text.length;
  area.dispatchEvent(new KeyboardEvent("keyup", { bubbles: true }));
});
