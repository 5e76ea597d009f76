"""Hand-offs to the background after commit: nothing is enqueued for a rolled-back change.

After commit an action's id goes to this process's publisher thread (one per process,
started on first use and again after a fork), which publishes the Celery message, so an
agent waiting for its answer does not pay for building and sending it. Ids that pile up
while it publishes go out together in one `execute_actions` message (a worker claims them
together, workflows.execution.execute_many): a worker's cost per message, besides the
executions in it, is large next to a quick execution's (bench/RESULTS.md, "Hand-off to
the workers"). So an id whose execution is *quick* (its connector writes to our own
database: the sandbox) waits up to LINGER_SECONDS for others to join its message; a call
to a system of record is never held back, nor is anything that joins while it waits. An
allowed action therefore starts executing at most LINGER_SECONDS later than it could; its
agent's answer is not delayed.

The action row, committed as `queued`, is the source of truth: if the process dies before
the message leaves, the sweeper (workflows.execution.sweep, every 30 s) enqueues every
action still queued after STALE_QUEUE, and the executor's conditional claim makes a
duplicate message harmless. With Celery's task_always_eager (tests, single-process runs)
the task runs at once.
"""

import atexit
import logging
import os
import queue
import threading
import time

from django.db import transaction

__all__ = ["enqueue_execution", "flush"]

logger = logging.getLogger(__name__)

# Ids committed while a message is being published go out together, up to this many in
# one message.
BATCH = 16
# How long a quick execution's id waits for company (see the module docstring).
LINGER_SECONDS = 0.1

_pending: queue.SimpleQueue = queue.SimpleQueue()
_lock = threading.Lock()
_publisher_pid = 0


def _publish(action_ids: list[str]) -> None:
    from workflows.tasks import execute_action, execute_actions

    try:
        if len(action_ids) == 1:
            execute_action.delay(action_ids[0])
        else:
            execute_actions.delay(action_ids)
    except Exception:  # the broker is down: the sweeper enqueues the actions later
        logger.exception("Could not enqueue actions %s; the sweeper will", action_ids)


def _waiting(first: tuple[str, bool] | None = None, pending=_pending) -> list[str]:
    """The ids of `first` and of what else is waiting in `pending` ((id, quick) pairs), at
    most BATCH; while every one of them is quick, waiting up to LINGER_SECONDS after the
    first for more."""
    batch: list[str] = []
    linger = False
    if first is not None:
        batch.append(first[0])
        linger = first[1]
    deadline = time.monotonic() + LINGER_SECONDS
    while len(batch) < BATCH:
        wait = deadline - time.monotonic() if linger else 0.0
        try:
            action_id, quick = pending.get(timeout=wait) if wait > 0 else pending.get_nowait()
        except queue.Empty:
            break
        batch.append(action_id)
        linger = linger and quick
    return batch


def _publish_forever() -> None:
    while True:
        _publish(_waiting(_pending.get()))


def _ensure_publisher() -> None:
    """Start this process's publisher thread (again after a fork)."""
    global _publisher_pid
    if _publisher_pid == os.getpid():
        return
    with _lock:
        if _publisher_pid != os.getpid():
            threading.Thread(
                target=_publish_forever, name="execution-publisher", daemon=True
            ).start()
            _publisher_pid = os.getpid()


def _hand_off(action_id: str, quick: bool) -> None:
    from workflows.tasks import execute_action

    if execute_action.app.conf.task_always_eager:
        _publish([action_id])
        return
    _ensure_publisher()
    _pending.put((action_id, quick))


def enqueue_execution(action_id, *, quick: bool = False) -> None:
    """Run the action's execution task once the current transaction commits. `quick`: its
    execution writes only to our own database, so its message may wait a moment for others
    (see the module docstring)."""
    action_id = str(action_id)
    transaction.on_commit(lambda: _hand_off(action_id, quick))


@atexit.register
def flush() -> None:
    """Publish what is still waiting (at exit; the sweeper covers a process killed hard)."""
    while batch := _waiting():
        _publish(batch)
