"""The live socket at /ws/activity/: escalations and activity pushed to signed-in people.

Deny by default: anonymous connections (and agents) are refused before the handshake
completes; the Origin was already checked by AllowedHostsOriginValidator (autonomy.asgi).
The socket joins only the groups workflows.live.groups_for() allows, decided at connect
time, and relays the pre-rendered fragments it hears, nothing else.

Rights can end while the socket is open: it also joins its person's own group, which
hears `rights.changed` after commit whenever that person signs out, gains or loses a
membership or permission, or is deactivated (workflows.rights). The socket then resolves
its person again from its session (signed out, deactivated or a changed password: no
one) and, unless the groups it would join now are exactly those it joined, leaves them
all and closes (code 4003); the page reconnects, joining what its person may see now and
re-syncing from the database, or is refused. We close rather than re-check rights per
message because a relay is on every push's path for every socket (bench/push): a check
per message would cost a database query per socket per push, to guard against something
that happens a few times a day; this costs nothing until rights change, and a message
already on its way when they do was published while the person still held them.

The consumer is asynchronous so that a relay runs on the event loop that received it: a
synchronous consumer hopped to Django's one sync thread and back for every message and
every socket (two hops each, queued behind each other with many sockets), and channels'
stale-connection cleanup before each handler is a third hop, skipped for relays because
they never touch the database.
"""

from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.exceptions import DenyConnection
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user

from workflows import live

__all__ = ["ActivityConsumer"]

REVOKED = 4003  # the close code of a socket whose person's rights changed


def current_groups(session_key: str | None, user_id) -> list[str]:
    """The groups the person signed in as `user_id` on that session may join now: none
    once the session ended, belongs to someone else, or no longer authenticates (Django's
    own check: the user is active and the password unchanged)."""
    if not session_key:
        return []
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))
    if user.pk != user_id:
        return []
    return live.groups_for(user)


def relayed(message: dict) -> bool:
    """Whether `message` is a pushed fragment (`escalation.*` or `activity`) to relay."""
    kind = message.get("type", "")
    return kind == "activity" or kind.startswith("escalation.")


class ActivityConsumer(AsyncJsonWebsocketConsumer):
    """Relays `escalation.*` and `activity` messages of the person's groups to the browser."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.revoked = False
        self.joined: list[str] = []
        if user is not None and user.is_authenticated:
            # Joined first, so that a change of rights while the groups are decided is heard.
            self.own_group = live.group_name("user", user.pk)
            await self.channel_layer.group_add(self.own_group, self.channel_name)
        groups = await database_sync_to_async(live.groups_for)(user)
        if not groups:
            await self.leave()
            raise DenyConnection
        self.joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def leave(self) -> None:
        """Leave every group this socket joined, its person's own included."""
        for group in [*self.joined, getattr(self, "own_group", None)]:
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)
        self.joined, self.own_group = [], None

    async def disconnect(self, code) -> None:
        await self.leave()

    async def rights_changed(self, message: dict) -> None:
        """Re-decide what this socket may hear; close it unless that is unchanged."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        if message.get("session") and message["session"] == key:
            groups = []  # this very session signed out (its row may not be gone yet)
        else:
            groups = await database_sync_to_async(current_groups)(key, self.scope["user"].pk)
        if groups != self.joined and not self.revoked:
            self.revoked = True
            await self.leave()
            await self.close(code=REVOKED)

    async def receive_json(self, content, **kwargs) -> None:
        """The browser has nothing to say: the socket only listens."""

    async def dispatch(self, message: dict) -> None:
        """Relays pushed fragments straight from the event loop; everything else (connect,
        receive, disconnect) goes through channels' own dispatch."""
        if relayed(message):
            if not self.revoked:
                await self.relay(message)
        else:
            await super().dispatch(message)

    async def relay(self, event: dict) -> None:
        """Send the fragment on as `{type, id, html}`, nothing else from the message."""
        await self.send_json({"type": event["type"], "id": event["id"], "html": event["html"]})
