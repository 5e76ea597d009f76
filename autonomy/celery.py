"""The Celery app: Redis broker, settings from Django (CELERY_*), tasks autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomy.settings")

app = Celery("autonomy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The inbox's SLA task lives in its own module.
app.autodiscover_tasks(["workflows"], related_name="tasks_inbox")
