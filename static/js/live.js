// The live inbox, activity feed and inbox counts: one socket to /ws/activity/ per page.
// Messages are {type, id, html}, where html is the same fragment the page renders: a row
// already on the page is replaced (matched by its id); a new action is added on top of the
// activity feed. When the socket comes back after a drop, the lists are fetched again from
// the server (the database is the truth).
// The inbox list is filtered, sorted and paged by the server, which alone knows what its
// filters (search over payloads included) match. So a pushed escalation the page does not
// hold is never added here: the page asks the server for its current list again
// (data-resync-url: its filters and page), debounced, and a row appears only if it matches.
// A row the page holds changes in place (a person sees what happened to what they look
// at) and leaves at the next re-render if it no longer matches. #assigned-count follows the
// person's open and claimed rows the page holds, and each re-render brings its true value.
// Any escalation news also fetches the inbox counts of the menu and the home page again
// ([data-inbox-counts-url], [data-inbox-count]).
// The activity feed's filters: see `matches` below.
// Loaded as a file (strict CSP: no inline scripts); loaded twice (the menu's counts and a
// page's lists), it runs once.
"use strict";

(() => {
  if (window.autonomyLive) return;
  window.autonomyLive = true;
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

  // A list with data-match-<name> attributes (the filtered activity feed) takes only rows
  // whose data-<name> has the same value.
  const matches = (list, row) =>
    Object.entries(list.dataset).every(([key, value]) => {
      if (!key.startsWith("match") || key.length <= 5) return true;
      return row.dataset[key.charAt(5).toLowerCase() + key.slice(6)] === value;
    });

  const listFor = (message, row) => {
    if (message.type !== "activity") return null;
    const list = document.querySelector('[data-live-rows="activity"]');
    return list && matches(list, row) ? list : null;
  };

  // Ask the server for a list again (its own filters and page) and swap it in; counts that
  // the list carries come along.
  const refetch = (list) => {
    if (!list.id || !window.htmx) return Promise.resolve();
    const target = `#${list.id}`;
    return window.htmx
      // From the list itself, so that its hx-sync applies (see templates/workflows/inbox.html).
      .ajax("GET", list.dataset.resyncUrl, { source: target, target, swap: "outerHTML" })
      .then(() => {
        const fresh = document.querySelector(target);
        if (assignedCount && fresh && fresh.dataset.assignedCount !== undefined) {
          assignedCount.textContent = fresh.dataset.assignedCount;
        }
      });
  };

  // One re-render at a time per list, and one more if news came while it ran.
  const pending = new Map();
  const refetchSoon = (list) => {
    const state = pending.get(list.id);
    if (state) {
      state.again = true;
      return;
    }
    const run = { again: false };
    pending.set(list.id, run);
    window.setTimeout(() => {
      const current = document.getElementById(list.id);
      const done = current ? refetch(current) : Promise.resolve();
      done.finally(() => {
        pending.delete(list.id);
        const again = document.getElementById(list.id);
        if (run.again && again) refetchSoon(again);
      });
    }, 200);
  };

  const escalationList = () => {
    const rows = document.querySelector('[data-live-rows="escalation"]');
    return rows && rows.closest("[data-resync-url]");
  };

  // The inbox counts of the menu and the home page, fetched again on escalation news.
  const countsSource = document.querySelector("[data-inbox-counts-url]");
  let countsPending = null;
  const showCounts = (counts) => {
    document.querySelectorAll("[data-inbox-count]").forEach((node) => {
      const value = counts[node.dataset.inboxCount];
      if (value === undefined) return;
      node.textContent = String(value);
      const holder = node.closest("[data-hide-zero]");
      if (holder) holder.classList.toggle("d-none", value === 0);
    });
  };
  const refreshCounts = () => {
    if (!countsSource) return;
    if (countsPending) {
      countsPending.again = true;
      return;
    }
    countsPending = { again: false };
    const run = countsPending;
    window.setTimeout(() => {
      fetch(countsSource.dataset.inboxCountsUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then((response) => (response.ok ? response.json() : null))
        .then((counts) => counts && showCounts(counts))
        .catch((error) => console.warn("live: counts not refreshed", error))
        .finally(() => {
          countsPending = null;
          if (run.again) refreshCounts();
        });
    }, 200);
  };

  // Whether a row counts in "Assigned to me": assigned to this person, and still waiting.
  const assignedCount = document.getElementById("assigned-count");
  const waitsFor = (row, assignee) =>
    Boolean(row) &&
    row.dataset.assignedTo === assignee &&
    (row.dataset.state === "open" || row.dataset.state === "claimed");

  // An escalation's assignee never changes (reassigning opens a new one), so the count moves
  // by what a row the page holds did; the others come with the list's re-render.
  const count = (message, existing, row) => {
    const assignee = assignedCount && assignedCount.dataset.liveAssignee;
    if (!assignee || message.type === "activity" || !existing) return;
    const change = Number(waitsFor(row, assignee)) - Number(waitsFor(existing, assignee));
    if (change) assignedCount.textContent = String(Number(assignedCount.textContent) + change);
  };

  const fragment = (html) => {
    const template = document.createElement("template");
    template.innerHTML = `<table><tbody>${html}</tbody></table>`;
    return template.content.querySelector("tr");
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
    if (message.type !== "activity") refreshCounts();
    const existing = document.getElementById(rowId(message));
    count(message, existing, row);
    const holder = existing && existing.closest("[data-live-rows]");
    if (existing && holder && !matches(holder, row)) {
      existing.remove(); // no longer matches the filters in force (its outcome changed)
    } else if (existing) {
      existing.replaceWith(row);
      followPanel();
    } else if (message.type !== "activity") {
      const list = escalationList();
      if (list) refetchSoon(list);
      return;
    } else {
      const list = listFor(message, row);
      if (!list) return;
      list.querySelectorAll("[data-placeholder]").forEach((node) => node.remove());
      list.prepend(row);
      const limit = Number(list.dataset.limit || 0);
      while (limit && list.rows.length > limit) list.deleteRow(-1);
    }
    if (window.htmx) window.htmx.process(row);
  };

  const resync = () => {
    document.querySelectorAll("[data-resync-url]").forEach(refetch);
    refreshCounts();
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
