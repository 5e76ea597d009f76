"""Who may call an API endpoint at all: people, agents, COE staff.

Object scope (which rows) is decided by governance.scoping; these classes only decide
the kind of caller. Each refusal carries its own error code.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from autonomy.core.principals import is_agent, is_coe

__all__ = ["IsAgent", "IsCOE", "IsCOEOrReadOnly", "IsPerson"]


class IsPerson(BasePermission):
    """Signed-in people only; agents get 403 `people_only`."""

    message = "This endpoint is for people; agents use /api/v1/me/ and the agent endpoints."
    code = "people_only"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and not is_agent(user))


class IsAgent(BasePermission):
    """Agents presenting their key only; people get 403 `agent_only`."""

    message = "This endpoint is for agents: authenticate with Authorization: Bearer <key>."
    code = "agent_only"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and is_agent(user))


class IsCOE(BasePermission):
    """COE staff only; other people get 403 `coe_only`."""

    message = "Only COE staff may do this."
    code = "coe_only"

    def has_permission(self, request, view) -> bool:
        return is_coe(request.user)


class IsCOEOrReadOnly(IsCOE):
    """Anyone may read; only COE staff may write."""

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
