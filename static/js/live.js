// The live inbox and activity feed: one socket to /ws/activity/ per page.
// Messages are {type, id, html}, where html is the same fragment the page renders: a row
// already on the page is replaced (matched by its id), a new escalation or action is
// added to the list that shows its kind, where that list's order puts it. When the socket
// comes back after a drop, the lists are fetched again from the server (the database is the
// truth).
// "Assigned to me": the socket brings every escalation the person may see (see
// workflows/live.py); a list with data-live-assignee takes only new rows whose
// data-assigned-to is that person, and #assigned-count follows their open and claimed ones.
// Loaded as a file (strict CSP: no inline scripts).
"use strict";

(() => {
  const status = document.getElementById("live-status");
  const MAX_DELAY_MS = 30000;
  let attempts = 0;
  let everOpen = false;

  const setStatus = (state, text) => {
    if (!status) return;
    status.dataset.liveStatus = state;
    status.textContent = text;
    status.className = `badge ${state === "open" ? "text-bg-success" : "text-bg-secondary"}`;
  };

  const rowId = (message) =>
    message.type === "activity" ? `activity-${message.id}` : `escalation-${message.id}`;

  const listFor = (message, row) => {
    if (message.type === "activity") return document.querySelector('[data-live-rows="activity"]');
    if (message.type === "escalation.new") {
      const list = document.querySelector('[data-live-rows="escalation"]');
      const assignee = list && list.dataset.liveAssignee;
      if (assignee && row.dataset.assignedTo !== assignee) return null;
      return list;
    }
    return null;
  };

  // Whether a row counts in "Assigned to me": assigned to this person, and still waiting.
  const assignedCount = document.getElementById("assigned-count");
  const waitsFor = (row, assignee) =>
    Boolean(row) &&
    row.dataset.assignedTo === assignee &&
    (row.dataset.state === "open" || row.dataset.state === "claimed");

  // An escalation's assignee never changes (reassigning opens a new one), so the count moves
  // by what this row did; a row the page never held (beyond its limit) is left to a re-sync.
  const count = (message, existing, row) => {
    const assignee = assignedCount && assignedCount.dataset.liveAssignee;
    if (!assignee || message.type === "activity") return;
    if (!existing && message.type !== "escalation.new") return;
    const change = Number(waitsFor(row, assignee)) - Number(waitsFor(existing, assignee));
    if (change) assignedCount.textContent = String(Number(assignedCount.textContent) + change);
  };

  const fragment = (html) => {
    const template = document.createElement("template");
    template.innerHTML = `<table><tbody>${html}</tbody></table>`;
    return template.content.querySelector("tr");
  };

  // A row with data-order (the inbox: most urgent first) goes before the first row that
  // sorts after it; a row without one (the activity feed: newest first) goes on top.
  const place = (list, row) => {
    const key = row.dataset.order;
    if (key === undefined) {
      list.prepend(row);
      return;
    }
    const later = Array.from(list.rows).find((other) => (other.dataset.order ?? "") > key);
    if (later) later.before(row);
    else list.append(row);
  };

  // An escalation's page: its decision panel follows the escalation's state, which the
  // socket keeps current in the summary row. When someone else claims or decides it, the
  // panel is fetched again (the server renders what this person may still do), so nobody
  // fills in a form that can only be refused. The person's own decisions swap the panel
  // themselves, one at a time (hx-sync on the panel); while one is on its way no panel is
  // fetched, and a fetched one is dropped, so that no response ever lands on a panel that
  // another has replaced. The check runs again when the person's request ends, and when the
  // row changed during a fetch (never in a loop: a panel the person may no longer see, 404,
  // stays as it was).
  const ownPanelRequests = new Set();
  let fetchingPanel = false;

  const summaryRow = (panel) => document.getElementById(`escalation-${panel.dataset.escalation}`);

  const followPanel = () => {
    const panel = document.getElementById("decision-panel");
    if (!panel || !window.htmx || fetchingPanel || ownPanelRequests.size) return;
    const row = summaryRow(panel);
    if (!row || row.dataset.state === panel.dataset.state) return;
    const fetchedFor = row.dataset.state;
    fetchingPanel = true;
    window.htmx
      .ajax("GET", window.location.pathname, {
        handler: (_elt, response) => {
          if (response.xhr.status !== 200 || ownPanelRequests.size) return;
          window.htmx.swap("#decision-panel", response.xhr.response, { swapStyle: "outerHTML" });
        },
      })
      .catch(() => {}) // a failed fetch leaves the panel as it was; the next message retries
      .finally(() => {
        fetchingPanel = false;
        const current = document.getElementById("decision-panel");
        const now = current && summaryRow(current);
        if (now && now.dataset.state !== fetchedFor) followPanel();
      });
  };

  document.addEventListener("htmx:beforeRequest", (event) => {
    const { elt, target, xhr } = event.detail;
    if (!target || target.id !== "decision-panel" || !elt.closest("#decision-panel")) return;
    ownPanelRequests.add(xhr);
    // loadend comes after htmx's own load handler, which has swapped the answer in.
    xhr.addEventListener("loadend", () => {
      ownPanelRequests.delete(xhr);
      followPanel();
    });
  });

  // The action's and agent's states shown beside the panel come with it (data attributes,
  // not out-of-band swaps: a response may land after its form has left the page).
  document.addEventListener("htmx:afterSwap", (event) => {
    const panel = event.target;
    if (panel.id !== "decision-panel") return;
    for (const [id, state] of [
      ["action-state", panel.dataset.actionState],
      ["agent-state", panel.dataset.agentState],
    ]) {
      const shown = document.getElementById(id);
      if (shown && state !== undefined) shown.textContent = state;
    }
  });

  const apply = (message) => {
    const row = fragment(message.html);
    if (!row) return;
    const existing = document.getElementById(rowId(message));
    count(message, existing, row);
    if (existing) {
      existing.replaceWith(row);
      followPanel();
    } else {
      const list = listFor(message, row);
      if (!list) return;
      list.querySelectorAll("[data-placeholder]").forEach((node) => node.remove());
      place(list, row);
      const limit = Number(list.dataset.limit || 0);
      while (limit && list.rows.length > limit) list.deleteRow(-1);
    }
    if (window.htmx) window.htmx.process(row);
  };

  const resync = () => {
    document.querySelectorAll("[data-resync-url]").forEach((list) => {
      if (!list.id || !window.htmx) return;
      const target = `#${list.id}`;
      window.htmx.ajax("GET", list.dataset.resyncUrl, { target, swap: "outerHTML" }).then(() => {
        const fresh = document.querySelector(target);
        if (assignedCount && fresh && fresh.dataset.assignedCount !== undefined) {
          assignedCount.textContent = fresh.dataset.assignedCount;
        }
      });
    });
  };

  const connect = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/ws/activity/`);
    socket.addEventListener("open", () => {
      if (everOpen) resync();
      everOpen = true;
      attempts = 0;
      setStatus("open", "Live");
    });
    socket.addEventListener("message", (event) => {
      try {
        apply(JSON.parse(event.data));
      } catch (error) {
        console.warn("live: ignored a message", error);
      }
    });
    socket.addEventListener("close", () => {
      setStatus("closed", "Reconnecting…");
      const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempts);
      attempts += 1;
      window.setTimeout(connect, delay);
    });
  };

  if ("WebSocket" in window) connect();
})();
