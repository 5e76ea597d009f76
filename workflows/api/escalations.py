"""Escalations over the API: the supervisors' inbox for other systems (a ticketing or chat
tool that lists a person's escalations and relays their decisions).

People only. Escalations come from Escalation.objects.for_person(): anything outside
the queues the person may work is a 404, as in the inbox pages. Every change goes through
workflows.inbox, which decides who may act, locks, writes the ledger and tells the live
inbox; its refusals are answered as `{"error": {"code", "message", "fields"}}`: 409 when
someone (or the SLA) decided first or another person holds the claim, 403 when the person
may see but not do it (the agent's owner approving), 400 for bad input. Payloads are shown
with the action type's sensitive fields as keyed hashes; an edit that leaves such a hash
in place keeps the original value.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance.redaction import redact
from workflows import bulk, inbox, live
from workflows.filtersets import EscalationFilterSet
from workflows.models import Escalation
from workflows.queues import reassign_targets

__all__ = ["EscalationViewSet"]

NOTE_MAX = 2000


class EscalatedActionSerializer(serializers.Serializer):
    """The action waiting for a person: who, what, and the payload it would send."""

    id = serializers.UUIDField()
    action = api_fields.StrictCharField(source="action_type.name")
    title = api_fields.StrictCharField(
        source="action_type.label", help_text="What people read (the action's name if untitled)"
    )
    summary = serializers.SerializerMethodField(
        help_text="The action type's summary fields found in the payload (sensitive ones as "
        "keyed hashes)"
    )
    agent = api_fields.StrictCharField(source="agent.slug")
    owner = api_fields.StrictCharField(source="agent.owner.username")
    state = api_fields.StrictCharField()
    reason = api_fields.StrictCharField()
    payload = serializers.SerializerMethodField(help_text="Sensitive fields as keyed hashes")
    created_at = serializers.DateTimeField()

    def get_payload(self, action) -> dict:
        return redact(action.payload, list(action.action_type.sensitive_fields or []))

    def get_summary(self, action) -> dict:
        payload = self.get_payload(action)
        names = action.action_type.summary_fields or []
        if not isinstance(payload, dict):
            return {}
        return {name: payload[name] for name in names if name in payload}


class EscalationSerializer(api_fields.ModelSerializer):
    """An escalation as its queue's people see it."""

    queue = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    business_unit = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    action = EscalatedActionSerializer(read_only=True)
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True)
    claimed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Escalation
        fields = [
            "id",
            "kind",
            "state",
            "priority",
            "reason",
            "matched",
            "queue",
            "business_unit",
            "action",
            "sla_due_at",
            "warned_at",
            "assigned_to",
            "claimed_by",
            "claimed_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "previous",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reason": {"help_text": "Why a person must decide, said plainly (workflows.reasons)"}
        }


class NoteSerializer(StrictSerializerMixin, serializers.Serializer):
    note = api_fields.StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True)


class ApproveSerializer(NoteSerializer):
    """Approve as submitted, or with `payload`: the edited payload, checked against the
    action type's schema and decided again by policy."""

    payload = serializers.DictField(required=False, help_text="The edited payload, whole")


class RejectSerializer(StrictSerializerMixin, serializers.Serializer):
    reason = api_fields.StrictCharField(max_length=NOTE_MAX, help_text="Told to the agent")


class ReassignSerializer(NoteSerializer):
    """Exactly one of `queue` (another queue of the unit, or a COE queue) and `person` (the
    username of someone who may decide the escalation)."""

    queue = api_fields.StrictSlugField(required=False)
    person = api_fields.StrictCharField(required=False, max_length=150)

    def validate(self, attrs):
        if ("queue" in attrs) == ("person" in attrs):
            raise serializers.ValidationError(
                {"queue": ["Give a queue or a person, not both or neither."]}
            )
        return attrs


class BulkDecisionSerializer(StrictSerializerMixin, serializers.Serializer):
    """Approve or reject several escalations with one note (the reason, to reject): each is
    decided on its own, as by `approve/` or `reject/`."""

    ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=bulk.BULK_MAX,
        help_text=f"The escalations, distinct, at most {bulk.BULK_MAX}",
    )
    decision = serializers.ChoiceField(choices=list(bulk.DECISIONS))
    note = api_fields.StrictCharField(
        max_length=NOTE_MAX,
        required=False,
        allow_blank=True,
        help_text="Kept with each decision; required to reject (the agents are told)",
    )

    def validate_ids(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("An escalation is listed twice.")
        return value

    def validate(self, attrs):
        if attrs["decision"] == "reject" and not attrs.get("note", "").strip():
            raise serializers.ValidationError(
                {"note": ["Give a reason to reject; the agents and the ledger keep it."]}
            )
        return attrs


class BulkOutcomeSerializer(serializers.Serializer):
    """What happened to one escalation: `ok` with code `approved` or `rejected`, or the
    refusal's code (`not_found` for an id outside your queues or unknown, `not_allowed`,
    `already_decided`, `claimed`, `invalid`) and message; a refused row changed nothing."""

    id = serializers.UUIDField(read_only=True)
    ok = serializers.BooleanField(read_only=True)
    code = api_fields.StrictCharField(read_only=True)
    message = api_fields.StrictCharField(read_only=True)


class BulkResultSerializer(serializers.Serializer):
    results = BulkOutcomeSerializer(many=True, help_text="One per id, in the order given")


STATUS = {
    inbox.OutOfScope: status.HTTP_404_NOT_FOUND,
    inbox.AlreadyDecided: status.HTTP_409_CONFLICT,
    inbox.ClaimedByOther: status.HTTP_409_CONFLICT,
    inbox.NotAllowed: status.HTTP_403_FORBIDDEN,
}


def _refusal(exc: inbox.InboxError) -> APIError:
    return APIError(
        STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST), exc.code, exc.message, exc.fields
    )


_errors = errors(401, 403)
_change_errors = errors(401, 403, 400, 404, 409)


def _change(summary: str, request_serializer=None):
    return extend_schema(
        summary=summary,
        request=request_serializer,
        responses={200: EscalationSerializer, **_change_errors},
    )


@extend_schema_view(
    list=extend_schema(
        summary="Escalations of the queues you may work, most urgent first, paged (filters: "
        "q, queue, action_type, agent, priority, state, sla, assigned=me; sort)",
        responses={200: EscalationSerializer(many=True), **errors(400), **_errors},
    ),
    retrieve=extend_schema(
        summary="One escalation (404 outside the queues you may work)",
        responses={200: EscalationSerializer, **errors(404), **_errors},
    ),
)
class EscalationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The inbox (Escalation.objects.for_person, filtered by
    workflows.filtersets.EscalationFilterSet like the inbox page) and its decisions
    (workflows.inbox, workflows.bulk)."""

    serializer_class = EscalationSerializer
    permission_classes = [IsPerson]
    filterset_class = EscalationFilterSet
    queryset = Escalation.objects.none()  # for the schema; rows come from get_queryset

    def get_queryset(self):
        # escalation_queryset joins everything a row shows: one query for any page.
        escalations = live.escalation_queryset(Escalation.objects.for_person(self.request.user))
        return escalations.order_by("priority", "sla_due_at", "pk")

    def filter_queryset(self, queryset):
        # The list's filters; one escalation is found (or a 404) whatever the query says.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _decide(self, service, *args, escalation: Escalation | None = None, **kwargs):
        """Run an inbox service on the escalation in the URL (a 404 outside the person's
        queues) and answer the escalation it returns, as the person now sees it; a refusal
        is a JSON error and changes nothing."""
        escalation = escalation or self.get_object()
        try:
            result = service(self.request.user, escalation, *args, **kwargs)
        except inbox.InboxError as exc:
            raise _refusal(exc) from exc
        # A reassignment can move the escalation out of the person's queues.
        fresh = self.get_queryset().filter(pk=result.pk).first()
        return Response(EscalationSerializer(fresh or result).data)

    def _body(self, serializer_class) -> dict:
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @_change("Claim an open escalation")
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        return self._decide(inbox.claim)

    @_change("Give up your claim")
    @action(detail=True, methods=["post"])
    def unclaim(self, request: Request, pk: str) -> Response:
        return self._decide(inbox.unclaim)

    @_change(
        "Approve, as submitted or with an edited payload (checked and decided again); the "
        "approval binds the payload and the policy versions",
        ApproveSerializer,
    )
    @action(detail=True, methods=["post"], serializer_class=ApproveSerializer)
    def approve(self, request: Request, pk: str) -> Response:
        data = self._body(ApproveSerializer)
        note = data.get("note", "")
        if "payload" in data:
            return self._decide(inbox.edit_and_approve, data["payload"], note)
        return self._decide(inbox.approve, note)

    @_change("Reject, with the reason the agent is told", RejectSerializer)
    @action(detail=True, methods=["post"], serializer_class=RejectSerializer)
    def reject(self, request: Request, pk: str) -> Response:
        return self._decide(inbox.reject, self._body(RejectSerializer)["reason"])

    @extend_schema(
        summary="Reassign to another queue of the unit or a COE queue, or to a person who "
        "may decide it; answers the new escalation",
        request=ReassignSerializer,
        responses={200: EscalationSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"], serializer_class=ReassignSerializer)
    def reassign(self, request: Request, pk: str) -> Response:
        escalation = self.get_object()
        data = self._body(ReassignSerializer)
        if "queue" in data:
            field, message = "queue", "Choose another queue of the unit, or a COE queue."
            found = reassign_targets(escalation).filter(slug=data["queue"]).first()
        else:
            field, message = "person", "Choose someone who may decide this escalation."
            people = inbox.assignable_people(escalation)
            found = people.filter(username=data["person"]).first()
        if found is None:
            raise APIError(
                status.HTTP_400_BAD_REQUEST,
                "invalid",
                message,
                {field: [f"Not a {field} this escalation may go to."]},
            )
        target = {field: found}
        return self._decide(
            inbox.reassign, escalation=escalation, note=data.get("note", ""), **target
        )

    @extend_schema(
        summary=f"Approve or reject up to {bulk.BULK_MAX} escalations with one note, each on "
        "its own as by approve/ or reject/; answers per id what happened (200 even when some "
        "were refused)",
        request=BulkDecisionSerializer,
        responses={200: BulkResultSerializer, **errors(400), **_errors},
    )
    @action(detail=False, methods=["post"], serializer_class=BulkDecisionSerializer)
    def bulk(self, request: Request) -> Response:
        data = self._body(BulkDecisionSerializer)
        outcomes = bulk.decide_each(
            request.user, data["ids"], data["decision"], data.get("note", "").strip()
        )
        return Response({"results": [outcome.as_dict() for outcome in outcomes]})
