"""What the API answers about actions: the status and body of the gateway's first answer
(kept for replays) and an action's status, built by serializers that are also the
schema at /api/schema/.

Times are written as Python's isoformat() writes them (an offset, never "Z"); sensitive
payload and result fields as keyed hashes. The gateway's answers are built by one instance
of each serializer, made at import: to_representation() keeps nothing on the instance, so
it serves every thread, and a new instance would copy its declared fields each time.
"""

from dataclasses import dataclass

from rest_framework import serializers

from autonomy.core import api_fields
from autonomy.core.serializers import ErrorSerializer
from governance.models import Effect
from governance.redaction import redact
from workflows.models import ActionRequest, Escalation

__all__ = [
    "ActionDecisionSerializer",
    "ActionSerializer",
    "DecisionSummarySerializer",
    "GatewayAnswer",
    "PendingActionSerializer",
    "ReadAnswerSerializer",
    "RefusedActionSerializer",
    "Submitted",
    "SubmittedActionSerializer",
    "error",
    "refused",
    "submitted",
]


@dataclass(frozen=True)
class GatewayAnswer:
    """The HTTP status and JSON body answered to the agent (and kept for replays)."""

    status: int
    body: dict
    headers: dict | None = None


@dataclass(frozen=True)
class Submitted:
    """A new action the gateway answers for, with its escalation if it awaits approval."""

    action: ActionRequest
    escalation: Escalation | None = None


class IsoDateTimeField(serializers.DateTimeField):
    """A time as isoformat() writes it, in the time zone it was stored in."""

    def to_representation(self, value):
        return value.isoformat()


class RedactedMixin:
    """An action's `payload` or `result` (the attribute named), its action type's sensitive
    fields as keyed hashes."""

    def __init__(self, attribute: str, **kwargs):
        self.attribute = attribute
        super().__init__(source="*", **kwargs)

    def to_representation(self, value: ActionRequest):
        data = getattr(value, self.attribute)
        if data is None:
            return None
        return redact(data, value.action_type.sensitive_fields or [])


class RedactedPayloadField(RedactedMixin, serializers.DictField):
    """The payload: always an object."""


class RedactedResultField(RedactedMixin, serializers.JSONField):
    """The result: any JSON value, or null before there is one."""


class LatestEscalationField(serializers.UUIDField):
    """The id of the action's latest escalation, or null: read from the annotation the
    API's with_latest_escalation() adds, or else looked up."""

    def __init__(self, **kwargs):
        super().__init__(source="*", allow_null=True, **kwargs)

    def to_representation(self, value: ActionRequest):
        if hasattr(value, "latest_escalation_id"):
            escalation_id = value.latest_escalation_id
        else:
            escalation = value.escalations.order_by("-created_at").first()
            escalation_id = escalation.pk if escalation is not None else None
        return str(escalation_id) if escalation_id is not None else None


class ActionLinksField(serializers.DictField):
    """Where the action's status is read (`self`), from its id."""

    def __init__(self, **kwargs):
        super().__init__(child=api_fields.StrictCharField(), source="action.pk", **kwargs)

    def to_representation(self, value):
        return {"self": f"/api/v1/actions/{value}/"}


class DecisionSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    effect = serializers.ChoiceField(choices=Effect.choices)
    reasons = serializers.ListField(child=api_fields.StrictCharField())
    matched = serializers.ListField(child=serializers.DictField())
    route = api_fields.StrictCharField(allow_blank=True)


class ActionDecisionSerializer(DecisionSummarySerializer):
    policy_version_ids = serializers.ListField(
        child=serializers.UUIDField(), help_text="The policy versions that decided"
    )


class SubmittedActionSerializer(serializers.Serializer):
    """The gateway's answer to an action it queued (201)."""

    id = serializers.UUIDField(source="action.pk")
    action = api_fields.StrictCharField(source="action.action_type.name")
    state = api_fields.StrictCharField(source="action.state")
    shadow = serializers.BooleanField(source="action.shadow")
    decision = DecisionSummarySerializer(source="action.decision")
    links = ActionLinksField()


class PendingActionSerializer(SubmittedActionSerializer):
    """The gateway's answer to an action that awaits approval (202)."""

    escalation_id = serializers.UUIDField(source="escalation.pk", allow_null=True)
    sla_due_at = IsoDateTimeField(source="escalation.sla_due_at", allow_null=True)


class ReadAnswerSerializer(SubmittedActionSerializer):
    """The answer to an allowed read, with what was read (200)."""

    data = serializers.JSONField(
        allow_null=True, help_text="What was read, without the fields above the agent's clearance"
    )
    withheld_fields = serializers.ListField(
        child=api_fields.StrictCharField(), help_text="Paths of the fields withheld (names only)"
    )
    data_omitted = serializers.BooleanField(help_text="True on a replay: read data is not kept")
    note = api_fields.StrictCharField(required=False)


class RefusedActionSerializer(ErrorSerializer):
    """An error; for an action denied (403) or over a rate limit (429), with the action's
    id and its decision, and the seconds to wait before retrying (429)."""

    action_id = serializers.UUIDField(required=False)
    decision = DecisionSummarySerializer(required=False)
    retry_after = serializers.IntegerField(required=False, help_text="Seconds (429 only)")


class ActionSerializer(serializers.Serializer):
    """An action as agents and people see it."""

    id = serializers.UUIDField()
    action = api_fields.StrictCharField(source="action_type.name")
    state = api_fields.StrictCharField()
    shadow = serializers.BooleanField()
    agent = api_fields.StrictCharField(source="agent.slug")
    payload = RedactedPayloadField("payload", help_text="Sensitive fields as keyed hashes")
    reason = api_fields.StrictCharField(allow_blank=True)
    created_at = IsoDateTimeField()
    completed_at = IsoDateTimeField(allow_null=True)
    decision = ActionDecisionSerializer(allow_null=True)
    escalation_id = LatestEscalationField()
    result = RedactedResultField("result", allow_null=True)
    error = api_fields.StrictCharField(allow_blank=True)


def _built(serializer: serializers.Serializer) -> serializers.Serializer:
    serializer.fields  # noqa: B018 (bind the fields at import, not on a request's thread)
    return serializer


_ERROR = _built(ErrorSerializer())
_SUBMITTED = _built(SubmittedActionSerializer())
_PENDING = _built(PendingActionSerializer())
_REFUSED = _built(RefusedActionSerializer())


def error(status: int, code: str, message: str, fields=None) -> GatewayAnswer:
    """An error answer: {"error": {"code", "message", "fields"}}."""
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return GatewayAnswer(status, _ERROR.to_representation(body))


def submitted(action: ActionRequest, escalation: Escalation | None = None) -> GatewayAnswer:
    """The answer to a new action that was queued (201) or awaits approval (202)."""
    if action.decision.effect == Effect.ALLOW:
        return GatewayAnswer(201, _SUBMITTED.to_representation(Submitted(action)))
    return GatewayAnswer(202, _PENDING.to_representation(Submitted(action, escalation)))


def refused(action: ActionRequest, retry_after: int | None) -> GatewayAnswer:
    """The answer to a new action that was denied: 429 with `retry_after` seconds when a
    rate limit denied it, 403 otherwise."""
    record = action.decision
    reasons = "; ".join(record.reasons)
    if retry_after is None:
        code, message = "denied", reasons or "Denied by policy."
    else:
        code, message = "rate_limited", reasons or "Over a rate limit."
    body = {
        "error": {"code": code, "message": message, "fields": {}},
        "action_id": action.pk,
        "decision": record,
    }
    if retry_after is None:
        return GatewayAnswer(403, _REFUSED.to_representation(body))
    body["retry_after"] = retry_after
    answer = _REFUSED.to_representation(body)
    return GatewayAnswer(429, answer, {"Retry-After": str(retry_after)})
