"""Hand-offs to the background after commit: nothing is enqueued for a rolled-back change.

Publishing a Celery message costs ~1-2 ms (kombu builds and sends it), which an agent
waiting for its answer should not pay. After commit the action's id goes to this
process's publisher thread, which publishes in the background; ids that pile up while
it publishes go out together in one `execute_actions` message (under load, one kombu
publish per several actions; a worker runs them one after the other). The action row, committed
as `queued`, is the source of truth: if the process dies before the message leaves, the
sweeper (workflows.execution.sweep, every 30 s) enqueues every action still queued after
STALE_QUEUE, and the executor's conditional claim makes a duplicate message harmless.
With Celery's task_always_eager (tests, single-process runs) the task runs at once.
"""

import atexit
import logging
import os
import queue
import threading

from django.db import transaction

__all__ = ["enqueue_execution", "flush"]

logger = logging.getLogger(__name__)

# Ids committed while a message is being published go out together, up to this many in
# one message (one kombu publish costs ~1-3 ms of CPU; an execution, much more).
BATCH = 8

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


def _waiting(first: str | None = None, pending: queue.SimpleQueue = _pending) -> list[str]:
    """`first` and what else is waiting in `pending`, at most BATCH ids."""
    batch = [first] if first is not None else []
    while len(batch) < BATCH:
        try:
            batch.append(pending.get_nowait())
        except queue.Empty:
            break
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


def _hand_off(action_id: str) -> None:
    from workflows.tasks import execute_action

    if execute_action.app.conf.task_always_eager:
        _publish([action_id])
        return
    _ensure_publisher()
    _pending.put(action_id)


def enqueue_execution(action_id) -> None:
    """Run the action's execution task once the current transaction commits."""
    action_id = str(action_id)
    transaction.on_commit(lambda: _hand_off(action_id))


@atexit.register
def flush() -> None:
    """Publish what is still waiting (at exit; the sweeper covers a process killed hard)."""
    while batch := _waiting():
        _publish(batch)
