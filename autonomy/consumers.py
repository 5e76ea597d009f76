"""The live socket at /ws/activity/: escalations and activity pushed to signed-in people.

Deny by default: anonymous connections (and agents) are refused before the handshake
completes; the Origin was already checked by AllowedHostsOriginValidator (autonomy.asgi).
The socket joins only the groups workflows.live.groups_for() allows, decided once at
connect time, and relays the pre-rendered fragments it hears, nothing else.
"""

from asgiref.sync import async_to_sync
from channels.exceptions import DenyConnection
from channels.generic.websocket import JsonWebsocketConsumer

from workflows import live

__all__ = ["ActivityConsumer"]


class ActivityConsumer(JsonWebsocketConsumer):
    """Relays `escalation.*` and `activity` messages of the person's groups to the browser."""

    def connect(self) -> None:
        user = self.scope.get("user")
        groups = live.groups_for(user)
        if not groups:
            raise DenyConnection
        self.joined = groups
        for group in groups:
            async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
        self.accept()

    def disconnect(self, code) -> None:
        for group in getattr(self, "joined", []):
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    def receive_json(self, content, **kwargs) -> None:
        """The browser has nothing to say: the socket only listens."""

    def _relay(self, event: dict) -> None:
        self.send_json({"type": event["type"], "id": event["id"], "html": event["html"]})

    def escalation_new(self, event: dict) -> None:
        self._relay(event)

    def escalation_claimed(self, event: dict) -> None:
        self._relay(event)

    def escalation_warned(self, event: dict) -> None:
        self._relay(event)

    def escalation_decided(self, event: dict) -> None:
        self._relay(event)

    def activity(self, event: dict) -> None:
        self._relay(event)
