"""POST /api/v1/policies/{slug}/simulate/: the impact preview of a draft, over the API."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance.models import DecisionRecord, Policy, PolicyVersion
from governance.policies import may_edit
from governance.simulation import simulate

__all__ = ["SimulateView"]


class SimulateRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    version = serializers.IntegerField(
        required=False, help_text="The version to preview; default: the policy's draft"
    )
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)


class ChangeSerializer(serializers.Serializer):
    before = api_fields.StrictCharField()
    after = api_fields.StrictCharField()
    count = serializers.IntegerField()
    by_agent = serializers.DictField(child=serializers.IntegerField())
    by_business_unit = serializers.DictField(child=serializers.IntegerField())
    by_cause = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Why decisions change (a rule now or no longer matched, an evaluation "
        "error), with how many",
    )
    examples = serializers.ListField(
        child=serializers.DictField(),
        help_text="Up to 20 changed decisions: decision_id, link, because, draft_reasons, "
        "draft_route",
    )


class ImpactSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    days = serializers.IntegerField()
    considered = serializers.IntegerField()
    changed = serializers.IntegerField()
    changes = ChangeSerializer(many=True)


class SimulateView(APIView):
    """Re-decide the recorded requests of the window with the draft in place of the
    published version; nothing is executed or recorded. COE staff, and builders for their
    own unit's policies."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=SimulateRequestSerializer,
        responses={
            200: ImpactSerializer,
            **errors(400, 403, 404, 409),
        },
        tags=["policies"],
        operation_id="policies_simulate",
    )
    def post(self, request, slug):
        policy = Policy.objects.for_person(request.user).filter(slug=slug).first()
        if policy is None:
            raise Http404
        if not may_edit(request.user, policy):
            raise APIError(
                403,
                "permission_denied",
                "Only COE staff and the unit's builders may preview this policy's drafts.",
            )
        body = SimulateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        versions = PolicyVersion.objects.filter(policy=policy)
        if "version" in body.validated_data:
            version = versions.filter(pk=body.validated_data["version"]).first()
            if version is None:
                raise APIError(
                    400,
                    "invalid",
                    "No such version of this policy.",
                    {"version": ["Not a version of this policy."]},
                )
        else:
            version = versions.filter(state=PolicyVersion.State.DRAFT).order_by("-number").first()
            if version is None:
                raise APIError(409, "no_draft", "This policy has no draft to preview.")
        days = body.validated_data["days"]
        impact = simulate(version, DecisionRecord.objects.for_person(request.user), days=days)
        return Response(
            {
                "version": impact.version_id,
                "days": impact.days,
                "considered": impact.considered,
                "changed": impact.changed,
                "changes": [
                    {
                        "before": change.before,
                        "after": change.after,
                        "count": change.count,
                        "by_agent": dict(change.by_agent),
                        "by_business_unit": dict(change.by_business_unit),
                        "by_cause": dict(change.by_cause),
                        "examples": [
                            {
                                "decision_id": example.record_id,
                                "link": f"/governance/decisions/{example.record_id}/",
                                "because": list(example.because),
                                "draft_reasons": list(example.reasons),
                                "draft_route": example.route or "",
                            }
                            for example in change.examples
                        ],
                    }
                    for change in impact.changes
                ],
            }
        )
