"""The `sandbox` connector: records what an action would have done and changes nothing else.

It is where L0 shadow agents' actions go (whatever their action type's connector) and
where action types without a connector execute, e.g. in the demo. Sensitive payload fields
are stored as keyed hashes. A read records nothing: it answers with the effects recorded in
the agent's business unit whose payload holds every field of the read's payload (the read's
payload is the query), newest first.
"""

from django.utils import timezone

from autonomy.core.compiled_sql import insert
from governance.redaction import redact
from workflows.connectors.base import BaseConnector, Result
from workflows.models import ActionType, SandboxEffect

__all__ = ["READ_LIMIT", "SandboxConnector"]

# A read answers at most this many records, found among the unit's latest effects.
READ_LIMIT = 50
READ_SCAN = 1000
_MISSING = object()


class SandboxConnector(BaseConnector):
    """Writes one SandboxEffect per action; answers reads from them."""

    kind = "sandbox"
    in_database = True

    def describe(self) -> str:
        return "sandbox"

    def call_budget_seconds(self) -> float:
        return 5.0

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        """Record the effect once per action: a repeat finds the row already there (one
        INSERT for the first call, which the action's unique effect skips on a repeat)."""
        if action.action_type.kind == ActionType.Kind.READ:
            return self._read(action, payload)
        effect = SandboxEffect(
            action_id=idempotency_key,
            connector=self.row,
            business_unit_id=action.business_unit_id,
            agent_slug=action.agent.slug,
            action_name=action.action_type.name,
            payload=redact(payload, list(action.action_type.sensitive_fields or [])),
            created_at=timezone.now(),
        )
        if not insert(effect, ignore_conflicts=True):
            effect = SandboxEffect.objects.get(action_id=idempotency_key)
        return Result(excerpt="recorded in the sandbox", data={"sandbox_effect_id": effect.pk})

    def _read(self, action, payload: dict) -> Result:
        """The unit's recorded effects matching every field of `payload` (see the module
        docstring); compared in Python, so any payload key is safe to match on."""
        latest = SandboxEffect.objects.filter(business_unit_id=action.business_unit_id).order_by(
            "-created_at", "-pk"
        )[:READ_SCAN]
        records = [
            {
                "id": effect.pk,
                "action": effect.action_name,
                "agent": effect.agent_slug,
                "payload": effect.payload,
                "created_at": effect.created_at.isoformat(),
            }
            for effect in latest
            if all(effect.payload.get(key, _MISSING) == value for key, value in payload.items())
        ][:READ_LIMIT]
        return Result(excerpt=f"{len(records)} sandbox records", data={"records": records})
