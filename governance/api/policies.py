"""Policies over the API, for people. COE staff see every policy; anyone else sees the COE's
(read-only) and those of their business units; anything else is 404. Every change goes
through governance.policies: only a draft's rules change, publishing archives the
previous version, and a rule that would not compile (CEL) or would loosen the COE's
decisions is a 400 naming the field, with the line and column of a CEL error."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance import policies
from governance.api.viewsets import SlugViewSet
from governance.models import BusinessUnit, Policy, PolicyVersion, Rule

__all__ = [
    "DraftSerializer",
    "PolicySerializer",
    "PolicyVersionSerializer",
    "PolicyVersionSummarySerializer",
    "PolicyVersionViewSet",
    "PolicyViewSet",
    "RuleSerializer",
    "VersionStateField",
]

State = PolicyVersion.State


def _invalid(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as the API's 400, field by field."""
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def _refused(exc: Exception) -> APIError:
    """NotAllowed is 403 (the policy is visible, not editable); InvalidState is 409."""
    if isinstance(exc, policies.NotAllowed):
        return APIError(status.HTTP_403_FORBIDDEN, "permission_denied", str(exc))
    return APIError(status.HTTP_409_CONFLICT, "invalid_state", str(exc))


@extend_schema_field(
    {"type": "string", "enum": State.values, "description": "draft, published or archived"},
    component_name="PolicyVersionStateEnum",
)
class VersionStateField(serializers.ChoiceField):
    """A version's state, named once in the schema (agents have a `state` too)."""

    def __init__(self, **kwargs):
        super().__init__(choices=State.choices, **kwargs)


class RuleSerializer(StrictSerializerMixin, api_fields.ModelSerializer):
    """A rule of a policy version. Empty scope lists mean everyone; a limit rule requires
    approval over `soft_limit` and denies over `hard_limit`."""

    roles = serializers.ListField(
        child=api_fields.StrictCharField(max_length=64), required=False, help_text="Role slugs."
    )
    business_units = serializers.ListField(
        child=api_fields.StrictCharField(max_length=64),
        required=False,
        help_text="Business unit slugs.",
    )
    agents = serializers.ListField(
        child=api_fields.StrictCharField(max_length=64), required=False, help_text="Agent slugs."
    )
    autonomy_levels = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=3),
        required=False,
        help_text="Autonomy levels 0-3.",
    )

    class Meta:
        model = Rule
        fields = ["id", *policies.RULE_FIELDS]
        read_only_fields = ["id"]


class PolicyVersionSummarySerializer(api_fields.ModelSerializer):
    """A version without its rules, for lists."""

    policy = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    publish_requested_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Four eyes: who asked for this draft to be published (null: nobody yet)",
    )
    state = VersionStateField(read_only=True)

    class Meta:
        model = PolicyVersion
        fields = ["id", *policies.VERSION_FIELDS]
        read_only_fields = fields


class PolicyVersionSerializer(PolicyVersionSummarySerializer):
    """A version with its rules."""

    rules = RuleSerializer(many=True, read_only=True)

    class Meta(PolicyVersionSummarySerializer.Meta):
        fields = [*PolicyVersionSummarySerializer.Meta.fields, "rules"]
        read_only_fields = fields


class PolicySerializer(StrictSerializerMixin, api_fields.ModelSerializer):
    """A policy; `business_unit` empty means the COE's, applying to every unit. Creating one
    also creates its empty draft v1."""

    business_unit = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=BusinessUnit.objects.none(),
        allow_null=True,
        required=False,
        help_text="The owning business unit; empty for a COE policy.",
        error_messages={"does_not_exist": "Choose a business unit you belong to."},
    )
    owner = api_fields.StrictCharField(read_only=True, help_text='"coe" or the unit\'s slug.')
    published_version = serializers.SerializerMethodField()
    draft_version = serializers.SerializerMethodField()
    editable = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "business_unit",
            "owner",
            "published_version",
            "draft_version",
            "editable",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["business_unit"].queryset = BusinessUnit.objects.for_person(request.user)
        return fields

    def _version(self, policy: Policy, state: str) -> int | None:
        return next((v.pk for v in policy.versions.all() if v.state == state), None)

    def get_published_version(self, policy: Policy) -> int | None:
        """The id of the published version, if any."""
        return self._version(policy, State.PUBLISHED)

    def get_draft_version(self, policy: Policy) -> int | None:
        """The id of the draft being edited, if any."""
        return self._version(policy, State.DRAFT)

    def get_editable(self, policy: Policy) -> bool:
        """Whether the caller may change this policy's drafts."""
        return policies.may_edit(self.context["request"].user, policy)

    def create(self, validated_data) -> Policy:
        user = self.context["request"].user
        try:
            return policies.create_policy(user, **validated_data)
        except policies.NotAllowed as exc:
            raise _refused(exc) from exc
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        except IntegrityError as exc:
            # Another request took the slug between validation and insert.
            raise serializers.ValidationError(
                {"slug": ["A policy with this slug already exists."]}
            ) from exc


class DraftSerializer(StrictSerializerMixin, serializers.Serializer):
    """A request for a new draft: optional notes on what it is for."""

    notes = api_fields.StrictCharField(required=False, allow_blank=True, max_length=2000)


_errors = errors(401, 403)
_detail_errors = errors(401, 403, 404)
_change_errors = errors(401, 403, 404, 400, 409)


@extend_schema_view(
    list=extend_schema(
        summary="List the policies you can see (the COE's and your business units')",
        responses={200: PolicySerializer(many=True), **_errors},
    ),
    retrieve=extend_schema(
        summary="One policy (404 outside your scope)",
        responses={200: PolicySerializer, **_detail_errors},
    ),
    create=extend_schema(
        summary="Create a policy with an empty draft v1 (COE, or builders for their unit)",
        responses={201: PolicySerializer, **errors(400), **_errors},
    ),
)
class PolicyViewSet(SlugViewSet):
    """Policies in the caller's scope, looked up by slug; outside scope is 404."""

    queryset = Policy.objects.all()
    serializer_class = PolicySerializer
    permission_classes = [IsPerson]

    def get_queryset(self):
        return Policy.objects.for_person(self.request.user).prefetch_related("versions")

    @extend_schema(
        summary="A policy's versions, newest first",
        responses={200: PolicyVersionSummarySerializer(many=True), **_detail_errors},
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=PolicyVersionSummarySerializer,
        pagination_class=None,  # every version of one policy: not paged
        filter_backends=[],
    )
    def versions(self, request: Request, slug: str) -> Response:
        policy = self.get_object()
        versions = policy.versions.select_related("policy", "created_by", "published_by")
        return Response(PolicyVersionSummarySerializer(versions, many=True).data)

    @extend_schema(
        summary="Start a new draft holding a copy of the published version's rules",
        request=DraftSerializer,
        responses={201: PolicyVersionSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"], serializer_class=DraftSerializer)
    def drafts(self, request: Request, slug: str) -> Response:
        policy = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            version = policies.create_draft(request.user, policy, **body.validated_data)
        except (policies.NotAllowed, policies.InvalidState) as exc:
            raise _refused(exc) from exc
        return Response(PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)


_rule_id = OpenApiParameter("rule_id", int, OpenApiParameter.PATH, description="The rule id.")


@extend_schema_view(
    retrieve=extend_schema(
        summary="One policy version with its rules (404 outside your scope)",
        responses={200: PolicyVersionSerializer, **_detail_errors},
    ),
)
class PolicyVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Versions of the policies in the caller's scope; only drafts change."""

    queryset = PolicyVersion.objects.all()
    serializer_class = PolicyVersionSerializer
    permission_classes = [IsPerson]

    def get_queryset(self):
        return (
            PolicyVersion.objects.for_person(self.request.user)
            .select_related("policy", "created_by", "published_by", "publish_requested_by")
            .prefetch_related("rules")
        )

    def _fresh(self, version: PolicyVersion) -> Response:
        return Response(PolicyVersionSerializer(self.get_queryset().get(pk=version.pk)).data)

    def _transition(self, request: Request, service) -> Response:
        """Run a version's transition (`service(user, version)`); its refusals as errors."""
        try:
            version = service(request.user, self.get_object())
        except (policies.NotAllowed, policies.InvalidState) as exc:
            raise _refused(exc) from exc
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return self._fresh(version)

    @extend_schema(
        summary="Add a rule to a draft (400 with the line and column of a CEL error)",
        request=RuleSerializer,
        responses={201: RuleSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"], serializer_class=RuleSerializer)
    def rules(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            rule = policies.add_rule(request.user, version, **body.validated_data)
        except (policies.NotAllowed, policies.InvalidState) as exc:
            raise _refused(exc) from exc
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["PATCH"],
        summary="Change a draft's rule (400 with the line and column of a CEL error)",
        parameters=[_rule_id],
        request=RuleSerializer,
        responses={200: RuleSerializer, **_change_errors},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Remove a rule from a draft",
        parameters=[_rule_id],
        request=None,
        responses={204: None, **_change_errors},
    )
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"rules/(?P<rule_id>[0-9]+)",
        url_name="rule",
        serializer_class=RuleSerializer,
    )
    def rule(self, request: Request, pk: str, rule_id: str) -> Response:
        version = self.get_object()
        rule = Rule.objects.filter(version=version, pk=rule_id).first()
        if rule is None:
            raise APIError(status.HTTP_404_NOT_FOUND, "not_found", "This version has no such rule.")
        rule.version = version
        try:
            if request.method == "DELETE":
                policies.delete_rule(request.user, rule)
                return Response(status=status.HTTP_204_NO_CONTENT)
            body = self.get_serializer(rule, data=request.data, partial=True)
            body.is_valid(raise_exception=True)
            rule = policies.update_rule(request.user, rule, **body.validated_data)
        except (policies.NotAllowed, policies.InvalidState) as exc:
            raise _refused(exc) from exc
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return Response(RuleSerializer(rule).data)

    @extend_schema(
        summary="Four eyes: ask for a draft to be published; another person approves it",
        description=(
            "With AUTONOMY_POLICY_FOUR_EYES on, a draft is published only after one person "
            "requests it here and another who may edit the policy publishes it unchanged "
            "(the requester's own publish is 403; a draft changed since the request is 409)."
        ),
        request=None,
        responses={200: PolicyVersionSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"], url_path="request-publication")
    def request_publication(self, request: Request, pk: str) -> Response:
        return self._transition(request, policies.request_publication)

    @extend_schema(
        summary="Publish a draft; the previous published version is archived",
        request=None,
        responses={200: PolicyVersionSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        return self._transition(request, policies.publish)

    @extend_schema(
        summary="Archive a draft or the published version (its rules stop applying)",
        request=None,
        responses={200: PolicyVersionSerializer, **_change_errors},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        return self._transition(request, policies.archive)
