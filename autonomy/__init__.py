"""Autonomy OS project shell: settings, URLs, ASGI/WSGI, Celery, request context."""

from autonomy.celery import app as celery_app

__all__ = ["celery_app"]
