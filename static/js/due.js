// Due times relative to now ("in 12 min", "3 min overdue"), kept current as time passes.
// Each <time data-relative datetime="..."> was rendered by the server with the same words
// (workflows.rows.relative_due) and the absolute time in its title; a waiting escalation's
// due cell (td.escalation-due) turns overdue when its time comes. Rows that arrive live
// carry their own text and are picked up on the next tick.
// Loaded as a file (strict CSP: no inline scripts).
"use strict";

(() => {
  const TICK_MS = 20000;

  const relative = (due, now) => {
    const seconds = (due - now) / 1000;
    const minutes = Math.floor(Math.abs(seconds) / 60);
    let span;
    if (minutes < 1) span = "under 1 min";
    else if (minutes < 60) span = `${minutes} min`;
    else if (minutes < 48 * 60) {
      const rest = minutes % 60;
      span = rest ? `${Math.floor(minutes / 60)} h ${rest} min` : `${Math.floor(minutes / 60)} h`;
    } else span = `${Math.floor(minutes / 1440)} d ${Math.floor((minutes % 1440) / 60)} h`;
    return seconds > 0 ? `in ${span}` : `${span} overdue`;
  };

  const refresh = () => {
    const now = Date.now();
    for (const time of document.querySelectorAll("time[data-relative]")) {
      const due = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(due)) continue;
      const text = relative(due, now);
      if (time.textContent !== text) time.textContent = text;
      const cell = time.closest("td.escalation-due");
      if (cell && due <= now) {
        cell.classList.remove("sla-at-risk");
        cell.classList.add("sla-overdue");
      }
    }
  };

  refresh();
  window.setInterval(refresh, TICK_MS);
})();
