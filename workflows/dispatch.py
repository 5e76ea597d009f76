"""Hand-offs to the background after commit: nothing is enqueued for a rolled-back change.

Publishing a Celery message costs ~1-2 ms (kombu builds and sends it), which an agent
waiting for its answer should not pay. After commit the action's id goes to this
process's publisher thread, which publishes in the background. The action row, committed
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

_pending: queue.SimpleQueue = queue.SimpleQueue()
_lock = threading.Lock()
_publisher_pid = 0


def _publish(action_id: str) -> None:
    from workflows.tasks import execute_action

    try:
        execute_action.delay(action_id)
    except Exception:  # the broker is down: the sweeper enqueues the action later
        logger.exception("Could not enqueue action %s; the sweeper will", action_id)


def _publish_forever() -> None:
    while True:
        _publish(_pending.get())


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
        _publish(action_id)
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
    while True:
        try:
            action_id = _pending.get_nowait()
        except queue.Empty:
            return
        _publish(action_id)
