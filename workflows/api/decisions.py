"""What-if decisions: "what would happen if agent X did Y with payload Z", nothing executed."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.principals import is_coe
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance.models import BusinessUnit, DecisionRecord, Effect, PolicyVersion
from governance.scoping import BUILD
from workflows.decisions import decide_action

__all__ = ["DecideView", "agents_for_what_if", "drafts_for_what_if", "may_use_what_if"]


class DecideRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    agent = api_fields.StrictSlugField(help_text="The agent's slug")
    action = api_fields.StrictRegexField(
        r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=200, help_text="e.g. erp.purchase_order.create"
    )
    payload = serializers.DictField(required=False, default=dict)
    policy_version = serializers.IntegerField(
        required=False,
        help_text="COE staff: decide with this draft in place of its policy's published version",
    )
    reported = serializers.DictField(
        child=serializers.FloatField(),
        required=False,
        default=dict,
        help_text='Figures the agent would report, e.g. {"spend": 1.2, "tokens": 900}',
    )


class MatchedRuleSerializer(serializers.Serializer):
    id = api_fields.StrictCharField()
    name = api_fields.StrictCharField()
    effect = api_fields.StrictCharField()
    log_only = serializers.BooleanField()


class DecisionSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    effect = serializers.ChoiceField(choices=Effect.choices)
    shadow = serializers.BooleanField()
    matched = MatchedRuleSerializer(many=True)
    reasons = serializers.ListField(child=api_fields.StrictCharField())
    errors = serializers.ListField(child=api_fields.StrictCharField())
    route = api_fields.StrictCharField(allow_blank=True)
    sla_seconds = serializers.IntegerField(allow_null=True)
    policy_version_ids = serializers.ListField(child=api_fields.StrictCharField())
    duration_us = serializers.FloatField()


def may_use_what_if(user) -> bool:
    """Whether a person may try actions out at all (the what-if page; others get 404): COE
    staff and the builders of some business unit, as the navigation offers it."""
    return is_coe(user) or BusinessUnit.objects.for_person(user, BUILD).exists()


def agents_for_what_if(user):
    """Agents whose actions a person may try out: COE all, builders their units' agents."""
    return Agent.objects.select_related("role", "business_unit").for_person(user, BUILD)


def drafts_for_what_if(user):
    """Draft versions a person may decide against: every draft for COE staff, else None
    (the published policies only)."""
    if not is_coe(user):
        return None
    drafts = PolicyVersion.objects.filter(state=PolicyVersion.State.DRAFT)
    return drafts.select_related("policy").order_by("policy__name")


class DecideView(APIView):
    """Decide an action of an agent under the published policies, record it, execute nothing."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=DecideRequestSerializer,
        responses={200: DecisionSerializer, **errors(400, 403, 404)},
        tags=["policies"],
        operation_id="policies_decide",
    )
    def post(self, request):
        body = DecideRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        agent = agents_for_what_if(request.user).filter(slug=data["agent"]).first()
        if agent is None:
            raise Http404
        version = None
        if "policy_version" in data:
            drafts = drafts_for_what_if(request.user)
            if drafts is None:
                raise APIError(
                    403,
                    "permission_denied",
                    "Only COE staff decide against a draft.",
                )
            version = drafts.filter(pk=data["policy_version"]).first()
            if version is None:
                raise APIError(
                    400,
                    "invalid",
                    "No such draft version.",
                    {"policy_version": ["Not the id of a draft policy version."]},
                )
        outcome = decide_action(
            agent,
            data["action"],
            data["payload"],
            actor=request.user,
            source=DecisionRecord.Source.WHAT_IF,
            reported=data["reported"],
            policy_version=version,
        )
        record = outcome.record
        return Response(
            {
                "decision_id": str(record.pk),
                "effect": record.effect,
                "shadow": record.shadow,
                "matched": record.matched,
                "reasons": record.reasons,
                "errors": record.errors,
                "route": record.route,
                "sla_seconds": record.sla_seconds,
                "policy_version_ids": record.policy_version_ids,
                "duration_us": record.duration_us,
            },
            status=status.HTTP_200_OK,
        )
