"""Agents authenticate to the API with `Authorization: Bearer <key>`.

The key and its agent come from agents.credentials (cached per process, invalidated
across processes on every change), so a revoked or expired key, or a key of an agent that
is not active, is refused on the very next request, each with its own error code. An
unknown, revoked or expired key counts against its client address (agents.key_throttle),
which past a limit is answered 429 instead of 401.
"""

from django.utils import timezone
from rest_framework import authentication, status

from agents import credentials, key_throttle
from agents.models import Agent, AgentAPIKey, AgentState
from autonomy.core.api_errors import APIError
from governance import ledger

__all__ = ["AgentKeyAuthentication", "AgentPrincipal"]

# Seconds between writes of a key's last-used time: one UPDATE per key per minute at most.
LAST_USED_RESOLUTION = 60


class AgentPrincipal:
    """The `request.user` of an agent's request: not a Django user, never staff."""

    is_agent = True
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, agent: Agent, key: AgentAPIKey):
        self.agent = agent
        self.key = key
        self.business_unit_id = agent.business_unit_id

    def ledger_actor(self) -> ledger.Actor:
        return ledger.Actor.for_agent(self.agent)

    def get_username(self) -> str:
        return f"agent:{self.agent.slug}"

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.get_username()


def _refuse(status_code: int, code: str, message: str) -> APIError:
    return APIError(status_code, code, message)


class AgentKeyAuthentication(authentication.BaseAuthentication):
    """Bearer API keys of agents (djangorestframework-api-key hashes)."""

    keyword = "Bearer"

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() not in ("bearer", "api-key"):  # schemes are case-insensitive
            return None
        secret = secret.strip()
        key = credentials.key_for_secret(secret)
        if key is None:
            key_throttle.note_failure(request)
            raise _refuse(status.HTTP_401_UNAUTHORIZED, "invalid_key", "The API key is invalid.")
        if key.agent.state == AgentState.RETIRED:
            # Retiring revokes every key; say why the key stopped working.
            raise _refuse(
                status.HTTP_403_FORBIDDEN, "agent_retired", f"Agent {key.agent.slug} is retired."
            )
        if key.revoked:
            key_throttle.note_failure(request)
            raise _refuse(
                status.HTTP_401_UNAUTHORIZED, "key_revoked", "This API key has been revoked."
            )
        if key.has_expired:
            key_throttle.note_failure(request)
            raise _refuse(status.HTTP_401_UNAUTHORIZED, "key_expired", "This API key has expired.")
        agent = key.agent
        if agent.state == AgentState.SUSPENDED:
            # The gateway answers 423 Locked for a suspended agent; other endpoints 403.
            view = (getattr(request, "parser_context", None) or {}).get("view")
            raise _refuse(
                getattr(view, "suspended_status", status.HTTP_403_FORBIDDEN),
                "agent_suspended",
                f"Agent {agent.slug} is suspended.",
            )
        if agent.state != AgentState.ACTIVE:
            code = {
                AgentState.RETIRED: "agent_retired",
            }.get(agent.state, "agent_not_active")
            raise _refuse(
                status.HTTP_403_FORBIDDEN,
                code,
                f"Agent {agent.slug} is {agent.get_state_display().lower()}.",
            )
        now = timezone.now()
        if (
            key.last_used_at is None
            or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION
        ):
            AgentAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
            credentials.note_used(secret, now)
        return AgentPrincipal(agent, key), key
