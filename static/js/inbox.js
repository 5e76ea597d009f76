// The inbox's bulk selection: the row checkboxes (name "ids", form "inbox-bulk"), a
// "select every waiting row on this page" box, and how many are selected. The list is
// re-rendered by the server (filters, paging, live news: static/js/live.js), so the
// selection is kept by escalation id and restored on the rows that are still there.
// Loaded as a file (strict CSP: no inline scripts).
"use strict";

(() => {
  const selected = new Set();
  const boxes = () => Array.from(document.querySelectorAll('#inbox-rows input[name="ids"]'));

  const show = () => {
    const all = boxes();
    const label = document.getElementById("bulk-selected");
    const count = all.filter((box) => box.checked).length;
    const text = count ? `${count} selected` : "None selected";
    // Written only when it changes: the observer below hears every change of the page.
    if (label && label.textContent !== text) label.textContent = text;
    const everything = document.getElementById("inbox-select-all");
    if (everything) {
      everything.checked = all.length > 0 && count === all.length;
      everything.indeterminate = count > 0 && count < all.length;
    }
  };

  // After a re-render: check again what is still on the page, forget the rest.
  const restore = () => {
    const present = new Set();
    boxes().forEach((box) => {
      present.add(box.value);
      box.checked = selected.has(box.value);
    });
    Array.from(selected).forEach((id) => {
      if (!present.has(id)) selected.delete(id);
    });
    show();
  };

  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    if (box.id === "inbox-select-all") {
      boxes().forEach((each) => {
        each.checked = box.checked;
        if (box.checked) selected.add(each.value);
        else selected.delete(each.value);
      });
    } else if (box.name === "ids" && box.closest("#inbox-rows")) {
      if (box.checked) selected.add(box.value);
      else selected.delete(box.value);
    } else {
      return;
    }
    show();
  });

  // A live row replaced in place, or the whole list swapped by htmx.
  new MutationObserver(restore).observe(document.body, { childList: true, subtree: true });
  restore();
})();
