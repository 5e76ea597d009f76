"""The `sandbox` connector: records what an action would have done and changes nothing else.

It is where L0 shadow agents' actions go (whatever their action type's connector) and
where action types without a connector execute, e.g. in the demo. Sensitive payload fields
are stored as keyed hashes.
"""

from django.utils import timezone

from governance.redaction import redact
from workflows.connectors.base import BaseConnector, Result
from workflows.models import SandboxEffect

__all__ = ["SandboxConnector"]


class SandboxConnector(BaseConnector):
    """Writes one SandboxEffect per action."""

    kind = "sandbox"

    def describe(self) -> str:
        return "sandbox"

    def call_budget_seconds(self) -> float:
        return 5.0

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        """Record the effect once per action: a repeat finds the row already there."""
        effect, _ = SandboxEffect.objects.get_or_create(
            action_id=idempotency_key,
            defaults={
                "connector": self.row,
                "business_unit_id": action.business_unit_id,
                "agent_slug": action.agent.slug,
                "action_name": action.action_type.name,
                "payload": redact(payload, list(action.action_type.sensitive_fields or [])),
                "created_at": timezone.now(),
            },
        )
        return Result(excerpt="recorded in the sandbox", data={"sandbox_effect_id": effect.pk})
