"""The Celery app: Redis broker, settings from Django (CELERY_*), tasks autodiscovered."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomy.settings")

app = Celery("autonomy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The inbox's SLA task lives in its own module.
app.autodiscover_tasks(["workflows"], related_name="tasks_inbox")


@task_prerun.connect
def close_old_connections(task=None, **kwargs) -> None:
    """Before each task a worker runs, what Django does before each request: close the
    database connections that failed or outlived CONN_MAX_AGE, and health-check the others
    on first use (CONN_HEALTH_CHECKS). Celery's fixup no longer closes them after every
    task (CELERY_DB_REUSE_MAX). Not for eager tasks: they run in the caller's connection."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
