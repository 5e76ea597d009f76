// Working through the inbox.
// On the list: a link to an escalation's page carries the list's query string
// (?from=<the list's query>), so the page's previous/next follow the same filtered list.
// On an escalation's page: keyboard shortcuts, listed on the page (#shortcuts):
// j next, k previous, c claim, a approve (after a confirmation), r to the reject reason.
// They do nothing while typing in a field or with a modifier key held.
// When set up, <body data-escalation-js="ready"> (tests wait for it).
// Loaded as a file (strict CSP: no inline scripts).
"use strict";

(() => {
  const list = document.getElementById("inbox-rows");
  if (list) {
    const DETAIL = /\/workflows\/inbox\/[0-9a-f-]{36}\/$/;
    const carryList = (event) => {
      const link = event.target.closest && event.target.closest("tr.escalation-row a[href]");
      if (!link || !window.location.search) return;
      const url = new URL(link.href, window.location.href);
      if (!DETAIL.test(url.pathname)) return;
      url.searchParams.set("from", window.location.search.slice(1));
      link.href = url.toString();
    };
    // Capture: the link's href is set before the browser follows it (click, middle click).
    document.addEventListener("click", carryList, true);
    document.addEventListener("auxclick", carryList, true);
  }

  if (!document.getElementById("decision-panel")) {
    document.body.dataset.escalationJs = "ready";
    return;
  }

  const follow = (...ids) => {
    for (const id of ids) {
      const link = document.getElementById(id);
      if (link && link.href) {
        window.location.assign(link.href);
        return;
      }
    }
  };

  const typing = (target) =>
    target instanceof Element &&
    Boolean(target.closest("input, textarea, select, [contenteditable]"));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    if (event.key === "j") follow("decided-next", "next-escalation");
    else if (event.key === "k") follow("previous-escalation");
    else if (event.key === "c") {
      const claim = document.getElementById("claim-button");
      if (claim) claim.click();
    } else if (event.key === "a") {
      const form = document.getElementById("approve-form");
      if (form && window.confirm("Approve this action as submitted?")) form.requestSubmit();
    } else if (event.key === "r") {
      const reason = document.querySelector("#reject-form textarea, #reject-form input[name=reason]");
      if (!reason) return;
      event.preventDefault(); // the "r" is not typed into the reason
      reason.scrollIntoView({ block: "center" });
      reason.focus();
    }
  });
  document.body.dataset.escalationJs = "ready";
})();
