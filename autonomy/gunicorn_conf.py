"""gunicorn settings for the HTTP process (WSGI, threaded workers, persistent DB connections)."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Persistent connections are safe under WSGI threads (one per thread); never under ASGI.
raw_env = [f"CONN_MAX_AGE={os.environ.get('CONN_MAX_AGE', '60')}"]
