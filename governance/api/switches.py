"""Kill switches over the API: list and read those in scope, engage, release.

Every change goes through governance.switches, which decides who may act and writes the
ledger. A business unit outside the caller's scope is a 404, as is a switch.
"""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance import switches
from governance.models import BusinessUnit, KillSwitch

__all__ = [
    "EngageSerializer",
    "KillSwitchFilterSet",
    "KillSwitchSerializer",
    "KillSwitchViewSet",
    "ReleaseSerializer",
]


class KillSwitchSerializer(api_fields.ModelSerializer):
    """A switch as people see it: what it stops, who engaged and released it, and why."""

    business_unit = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    engaged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    released_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = KillSwitch
        fields = [
            "id",
            "kind",
            "business_unit",
            "action_pattern",
            "active",
            "reason",
            "engaged_by",
            "engaged_at",
            "released_by",
            "released_at",
            "release_reason",
        ]
        read_only_fields = fields


class EngageSerializer(StrictSerializerMixin, serializers.Serializer):
    """Freeze a business unit (`business_unit`) or block an action pattern (`action_pattern`)."""

    kind = serializers.ChoiceField(choices=KillSwitch.Kind.choices)
    business_unit = api_fields.StrictSlugField(
        required=False, help_text="The unit to freeze (freeze_business_unit only)."
    )
    action_pattern = api_fields.StrictCharField(
        required=False,
        max_length=switches.PATTERN_MAX,
        help_text="The pattern to block everywhere, e.g. erp.payment.* (block_action only).",
    )
    reason = api_fields.StrictCharField(
        max_length=switches.REASON_MAX, help_text="Why, for the ledger."
    )

    def validate(self, attrs):
        freeze = attrs["kind"] == KillSwitch.Kind.FREEZE_BUSINESS_UNIT
        needed, unwanted = (
            ("business_unit", "action_pattern") if freeze else ("action_pattern", "business_unit")
        )
        errors = {}
        if not attrs.get(needed):
            errors[needed] = [f"Required to {'freeze' if freeze else 'block'}."]
        if unwanted in attrs:
            errors[unwanted] = [f"Not used by {attrs['kind']}."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ReleaseSerializer(StrictSerializerMixin, serializers.Serializer):
    """Why the switch is released, for the ledger."""

    reason = api_fields.StrictCharField(max_length=switches.REASON_MAX)


class KillSwitchFilterSet(django_filters.FilterSet):
    """Filter switches by state, kind and frozen business unit."""

    business_unit = django_filters.CharFilter(field_name="business_unit__slug")

    class Meta:
        model = KillSwitch
        fields = ["active", "kind", "business_unit"]


def _api_error(exc: switches.SwitchError) -> APIError:
    if isinstance(exc, switches.NotAllowed):
        return APIError(status.HTTP_403_FORBIDDEN, "permission_denied", exc.message)
    if isinstance(exc, switches.AlreadyDone):
        return APIError(status.HTTP_409_CONFLICT, "conflict", exc.message)
    fields = {exc.field: [exc.message]} if exc.field else {}
    return APIError(status.HTTP_400_BAD_REQUEST, "invalid", exc.message, fields)


_errors = errors(401, 403)
_change_errors = errors(401, 403, 400, 404, 409)


@extend_schema_view(
    list=extend_schema(
        summary="List kill switches: freezes of your units and every block (all for COE)",
        responses={200: KillSwitchSerializer(many=True), **_errors},
    ),
    retrieve=extend_schema(
        summary="One kill switch (404 outside your scope)",
        responses={200: KillSwitchSerializer, **errors(404), **_errors},
    ),
    create=extend_schema(
        summary="Engage a kill switch: COE staff freeze any unit or block a pattern; "
        "supervisors freeze their own unit. Effective on the next request everywhere.",
        request=EngageSerializer,
        responses={201: KillSwitchSerializer, **_change_errors},
    ),
)
class KillSwitchViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Kill switches in the caller's scope (KillSwitch.objects.for_person)."""

    serializer_class = KillSwitchSerializer
    filterset_class = KillSwitchFilterSet
    permission_classes = [IsPerson]
    queryset = KillSwitch.objects.none()  # for the schema; rows come from get_queryset

    def get_queryset(self):
        return KillSwitch.objects.for_person(self.request.user)

    def create(self, request: Request) -> Response:
        body = EngageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data["kind"] == KillSwitch.Kind.FREEZE_BUSINESS_UNIT:
                unit = (
                    BusinessUnit.objects.for_person(request.user)
                    .filter(slug=data["business_unit"])
                    .first()
                )
                if unit is None:
                    raise APIError(status.HTTP_404_NOT_FOUND, "not_found", "No such business unit.")
                switch = switches.engage_freeze(request.user, unit, data["reason"])
            else:
                switch = switches.engage_block(request.user, data["action_pattern"], data["reason"])
        except switches.SwitchError as exc:
            raise _api_error(exc) from exc
        fresh = self.get_queryset().get(pk=switch.pk)
        return Response(KillSwitchSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Release a kill switch, with a reason",
        request=ReleaseSerializer,
        responses={200: KillSwitchSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"], serializer_class=ReleaseSerializer)
    def release(self, request: Request, pk: str) -> Response:
        switch = self.get_object()
        body = ReleaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            switches.release(request.user, switch, body.validated_data["reason"])
        except switches.SwitchError as exc:
            raise _api_error(exc) from exc
        fresh = self.get_queryset().get(pk=switch.pk)
        return Response(KillSwitchSerializer(fresh).data)
