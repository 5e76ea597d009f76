"""The live socket at /ws/activity/: escalations and activity pushed to signed-in people.

Deny by default: anonymous connections (and agents) are refused before the handshake
completes; the Origin was already checked by AllowedHostsOriginValidator (autonomy.asgi).
The socket joins only the groups workflows.live.groups_for() allows, decided once at
connect time, and relays the pre-rendered fragments it hears, nothing else.

The consumer is asynchronous so that a relay runs on the event loop that received it: a
synchronous consumer hopped to Django's one sync thread and back for every message and
every socket (two hops each, queued behind each other with many sockets), and channels'
stale-connection cleanup before each handler is a third hop, skipped for relays because
they never touch the database.
"""

from channels.db import database_sync_to_async
from channels.exceptions import DenyConnection
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workflows import live

__all__ = ["ActivityConsumer"]


def relayed(message: dict) -> bool:
    """Whether `message` is a pushed fragment (`escalation.*` or `activity`) to relay."""
    kind = message.get("type", "")
    return kind == "activity" or kind.startswith("escalation.")


class ActivityConsumer(AsyncJsonWebsocketConsumer):
    """Relays `escalation.*` and `activity` messages of the person's groups to the browser."""

    async def connect(self) -> None:
        groups = await database_sync_to_async(live.groups_for)(self.scope.get("user"))
        if not groups:
            raise DenyConnection
        self.joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The browser has nothing to say: the socket only listens."""

    async def dispatch(self, message: dict) -> None:
        """Relays pushed fragments straight from the event loop; everything else (connect,
        receive, disconnect) goes through channels' own dispatch."""
        if relayed(message):
            await self.relay(message)
        else:
            await super().dispatch(message)

    async def relay(self, event: dict) -> None:
        """Send the fragment on as `{type, id, html}`, nothing else from the message."""
        await self.send_json({"type": event["type"], "id": event["id"], "html": event["html"]})
