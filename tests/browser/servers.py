"""The ASGI application (HTTP and websockets) under uvicorn in a thread, on the test
database: pytest-django's live_server speaks WSGI only, and pages open a websocket."""

import socket
import threading
import time

import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from autonomy.asgi import application

__all__ = ["AsgiServer"]


class AsgiServer:
    """uvicorn serving autonomy.asgi (with static files) on a free loopback port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            ASGIStaticFilesHandler(application),
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "AsgiServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def drop_websockets(self) -> None:
        """Cut every open websocket, as a flaky network would; the server stays up."""
        for protocol in list(self.server.server_state.connections):
            if isinstance(protocol, WebSocketsSansIOProtocol):
                protocol.loop.call_soon_threadsafe(protocol.transport.close)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
