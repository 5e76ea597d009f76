"""Run the whole product on one machine: embedded Redis, uvicorn, a Celery worker and beat,
the demo ERP and the simulated workforce.

The helper servers take ports nobody else holds: Redis a free one, the demo ERP the web port
+ 9 (8009 beside 8000) or, when that is taken, a free one, and the demo's ERP connectors are
pointed at it. An explicit AUTONOMY_DEMO_ERP_PORT, or a web port, that is taken is a
one-line error before anything starts. Prints the URL and the demo logins once the web
server accepts connections; Ctrl-C stops everything it started.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from autonomy.embedded import embedded_redis
from autonomy.management.commands import run_demo_erp

DEMO_LOGINS_NOTE = "(password for every demo login: {password})"
# How long the web server may take to accept connections before the URL is announced.
READY_SECONDS = 60
# Unless AUTONOMY_DEMO_ERP_PORT says otherwise, the demo ERP listens on the web port + this.
ERP_PORT_OFFSET = 9


def _check_web_port(host: str, port: int) -> None:
    """Refuse a web port another process listens on (uvicorn would fail after the URL was
    announced for the other process's server)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"Port {port} is in use ({exc.strerror}): choose another, e.g. PORT=8150 make demo."
            ) from None


def _bind_demo_erp(web_port: int) -> ThreadingHTTPServer:
    """The demo ERP bound to AUTONOMY_DEMO_ERP_PORT if set (taken: CommandError), else to
    the web port + ERP_PORT_OFFSET if free, else to any free port."""
    explicit = settings.AUTONOMY_DEMO_ERP_PORT
    if explicit is not None:
        try:
            return run_demo_erp.bind(explicit)
        except OSError as exc:
            raise CommandError(
                f"The demo ERP cannot listen on port {explicit} (AUTONOMY_DEMO_ERP_PORT): "
                f"{exc.strerror}; free it, or unset AUTONOMY_DEMO_ERP_PORT to use a free port."
            ) from None
    derived = web_port + ERP_PORT_OFFSET
    if derived <= 65535:
        try:
            return run_demo_erp.bind(derived)
        except OSError:
            pass  # taken by something else on this machine: any free port will do
    return run_demo_erp.bind(0)


def _answers(host: str, port: int, web: subprocess.Popen, stopped: Callable[[], bool]) -> bool:
    """Whether the web server accepts connections on (host, port) within READY_SECONDS
    (False at once if its process has exited or we are asked to stop)."""
    address = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and web.poll() is None and not stopped():
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class Command(BaseCommand):
    help = "Serve Autonomy OS with a worker, beat and (unless REDIS_URL is set) embedded Redis."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--no-workforce", action="store_true", help="do not start the simulated agents"
        )

    def handle(self, *args, port, host, no_workforce, **options):
        from autonomy.demo import point_connectors_at_demo_erp
        from governance.ledger import Actor

        _check_web_port(host, port)
        erp = _bind_demo_erp(port)
        erp_port = erp.server_address[1]
        threading.Thread(target=erp.serve_forever, name="demo-erp", daemon=True).start()
        try:
            self.stdout.write(f"Demo ERP on http://127.0.0.1:{erp_port}/")
            for slug in point_connectors_at_demo_erp(Actor.system("run_embedded"), erp_port):
                self.stdout.write(f"Connector {slug} now calls the demo ERP on port {erp_port}.")
            if os.environ.get("REDIS_URL"):
                self._serve(os.environ["REDIS_URL"], host, port, not no_workforce)
                return
            with embedded_redis() as url:
                self._serve(url, host, port, not no_workforce)
        finally:
            erp.shutdown()
            erp.server_close()

    def _serve(self, redis_url: str, host: str, port: int, workforce: bool) -> None:
        from autonomy.demo import DEMO_PASSWORD, demo_logins

        # The demo shows four eyes on policy publishing unless the environment says otherwise.
        env = {"AUTONOMY_POLICY_FOUR_EYES": "true", **os.environ, "REDIS_URL": redis_url}
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "autonomy", "--quiet"]
        uvicorn = [python, "-m", "uvicorn", "autonomy.asgi:application", "--lifespan", "off"]
        commands = {
            "web": [*uvicorn, "--host", host, "--port", str(port), "--no-access-log"],
            "worker": [*celery, "worker", "--loglevel", "WARNING", "--concurrency", "2"],
            "beat": [*celery, "beat", "--loglevel", "WARNING"],
        }
        if workforce:
            commands["workforce"] = [
                python,
                "manage.py",
                "run_workforce",
                "--url",
                f"http://{host}:{port}",
            ]
        # A worker process runs one task at a time: like gunicorn, it keeps its database
        # connection (autonomy.celery); uvicorn (ASGI) must not.
        envs = {"worker": {**env, "CONN_MAX_AGE": env.get("CONN_MAX_AGE", "60")}}
        # Ctrl-C or SIGTERM at any moment, start-up included, stops what has been started.
        stopping = False

        def stop(*_) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        processes: dict[str, subprocess.Popen] = {}
        try:
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command, env=envs.get(name, env))  # noqa: S603 - our own commands
            url = f"http://{host}:{port}/"
            self.stdout.write("Starting the web server, worker and beat ...")
            if not _answers(host, port, processes["web"], lambda: stopping):
                if stopping:
                    return
                self.stderr.write(
                    f"The web server did not answer on {url} within {READY_SECONDS} s."
                )
            self.stdout.write(self.style.SUCCESS(f"\nAutonomy OS is running at {url}"))
            self.stdout.write(f"Redis: {redis_url}   API docs: {url}api/docs/")
            note = DEMO_LOGINS_NOTE.format(password=DEMO_PASSWORD)
            self.stdout.write(f"Demo logins {note}:")
            for username, description in demo_logins():
                self.stdout.write(f"  {username:<22} {description}")
            self.stdout.write("Press Ctrl-C to stop.\n")
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write("Stopped.")
