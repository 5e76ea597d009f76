"""Agents over the API: scoped list and detail, registration by builders, lifecycle
transitions and keys. Every change goes through agents.services."""

from django.db import IntegrityError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.api.schema import AutonomyLevelField
from agents.filtersets import AgentFilterSet
from agents.models import Agent, AgentAPIKey, AgentRole, validate_tags
from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance.api.viewsets import SlugViewSet
from governance.models import BusinessUnit
from governance.scoping import BUILD

__all__ = [
    "AgentKeySerializer",
    "AgentSerializer",
    "AgentViewSet",
    "IssueKeySerializer",
    "IssuedKeySerializer",
    "TransitionSerializer",
]


class AgentKeySerializer(api_fields.ModelSerializer):
    """A key as its owners see it: never the secret, only its prefix."""

    expires_at = serializers.DateTimeField(source="expiry_date", read_only=True, allow_null=True)
    expired = serializers.BooleanField(source="has_expired", read_only=True)

    class Meta:
        model = AgentAPIKey
        fields = [
            "prefix",
            "name",
            "created",
            "created_by",
            "expires_at",
            "expired",
            "last_used_at",
            "revoked",
            "revoked_at",
        ]
        read_only_fields = fields


class IssueKeySerializer(StrictSerializerMixin, serializers.Serializer):
    """A request for a new key: a name to recognise it by and an optional expiry."""

    name = api_fields.StrictCharField(max_length=50)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value


class IssuedKeySerializer(AgentKeySerializer):
    """A key just issued, with its secret: shown this once and never again."""

    key = serializers.SerializerMethodField(help_text="The secret. Store it now.")

    class Meta(AgentKeySerializer.Meta):
        fields = [*AgentKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, obj) -> str:
        return self.context["secret"]


class TransitionSerializer(StrictSerializerMixin, serializers.Serializer):
    """The body of a lifecycle action: an optional note."""

    note = api_fields.StrictCharField(required=False, allow_blank=True, max_length=2000)


class NotedTransitionSerializer(StrictSerializerMixin, serializers.Serializer):
    """The body of a lifecycle action that needs a note (reject, suspend)."""

    note = api_fields.StrictCharField(max_length=2000, help_text="Why, told to the owner.")


def transition_serializer(name: str) -> type[serializers.Serializer]:
    """The body a lifecycle transition takes: with a required note if it needs one."""
    return (
        NotedTransitionSerializer if services.TRANSITIONS[name].needs_note else TransitionSerializer
    )


class AgentSerializer(StrictSerializerMixin, api_fields.ModelSerializer):
    """An agent's identity; registering one creates it pending COE review."""

    business_unit = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=BusinessUnit.objects.none(),
        error_messages={
            "does_not_exist": "Choose a business unit in which you are a builder.",
        },
    )
    role = serializers.SlugRelatedField(slug_field="slug", queryset=AgentRole.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    capabilities = serializers.ListField(
        child=api_fields.StrictCharField(max_length=64),
        required=False,
        validators=[validate_tags],
        help_text="Tags used to route work to the agent.",
    )
    autonomy_level = AutonomyLevelField(
        required=False,
        help_text="Defaults to the role's level; builders may not ask for more than that, "
        "nor for L3 (autonomous), which only the COE grants.",
    )
    keys = AgentKeySerializer(source="api_keys", many=True, read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "slug",
            "name",
            "purpose",
            "business_unit",
            "role",
            "owner",
            "capabilities",
            "autonomy_level",
            "state",
            "state_changed_at",
            "created_at",
            "keys",
        ]
        read_only_fields = ["id", "state", "state_changed_at", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["business_unit"].queryset = BusinessUnit.objects.for_person(request.user, BUILD)
        return fields

    def validate(self, attrs):
        level, role = attrs.get("autonomy_level"), attrs.get("role")
        user = self.context["request"].user
        if role is not None and (refusal := services.level_refusal(user, role, level)):
            raise serializers.ValidationError({"autonomy_level": [refusal]})
        return attrs

    def create(self, validated_data) -> Agent:
        user = self.context["request"].user
        try:
            return services.register_agent(user, **validated_data)
        except services.NotAllowed as exc:
            raise serializers.ValidationError({"business_unit": [str(exc)]}) from exc
        except services.LevelNotAllowed as exc:
            raise serializers.ValidationError({"autonomy_level": [str(exc)]}) from exc
        except IntegrityError as exc:
            # Another request took the slug between validation and insert.
            raise serializers.ValidationError(
                {"slug": ["An agent with this slug already exists."]}
            ) from exc


_errors = errors(401, 403)
_detail_errors = errors(401, 403, 404)
_transition_errors = errors(401, 403, 404, 400, 409)


def _transition_schema(summary: str, name: str):
    return extend_schema(
        summary=summary,
        request=transition_serializer(name),
        responses={200: AgentSerializer, **_transition_errors},
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the agents of your business units (all of them for COE staff)",
        responses={200: AgentSerializer(many=True), **_errors},
    ),
    retrieve=extend_schema(
        summary="One agent, with its keys (404 outside your scope)",
        responses={200: AgentSerializer, **_detail_errors},
    ),
    create=extend_schema(
        summary="Register an agent in one of your business units (pending COE review)",
        responses={201: AgentSerializer, **errors(400), **_errors},
    ),
)
class AgentViewSet(SlugViewSet):
    """Agents in the caller's scope, looked up by slug; outside scope is 404."""

    queryset = Agent.objects.select_related("business_unit", "role", "owner").prefetch_related(
        "api_keys"
    )
    serializer_class = AgentSerializer
    filterset_class = AgentFilterSet
    permission_classes = [IsPerson]

    def get_queryset(self):
        return super().get_queryset().for_person(self.request.user)

    def _transition(self, request: Request, name: str) -> Response:
        """Run one lifecycle transition: 403 if the caller may not, 409 if the state forbids."""
        agent = self.get_object()
        body = transition_serializer(name)(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.transition(request.user, agent, name, body.validated_data.get("note", ""))
        except services.NotAllowed as exc:
            raise APIError(status.HTTP_403_FORBIDDEN, "permission_denied", str(exc)) from exc
        except services.InvalidTransition as exc:
            raise APIError(status.HTTP_409_CONFLICT, "invalid_transition", str(exc)) from exc
        fresh = self.get_queryset().get(pk=agent.pk)
        return Response(AgentSerializer(fresh, context=self.get_serializer_context()).data)

    @_transition_schema("Submit a draft agent for COE review", "submit")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("submit"))
    def submit(self, request: Request, slug: str) -> Response:
        return self._transition(request, "submit")

    @_transition_schema("Approve an agent pending review (COE staff)", "approve")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("approve"))
    def approve(self, request: Request, slug: str) -> Response:
        return self._transition(request, "approve")

    @_transition_schema("Send an agent back to draft with a note (COE staff)", "reject")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("reject"))
    def reject(self, request: Request, slug: str) -> Response:
        return self._transition(request, "reject")

    @_transition_schema("Suspend an active agent with a note (supervisors and COE)", "suspend")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("suspend"))
    def suspend(self, request: Request, slug: str) -> Response:
        return self._transition(request, "suspend")

    @_transition_schema("Resume a suspended agent (supervisors and COE)", "resume")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("resume"))
    def resume(self, request: Request, slug: str) -> Response:
        return self._transition(request, "resume")

    @_transition_schema("Retire an agent for good; all its keys are revoked", "retire")
    @action(detail=True, methods=["post"], serializer_class=transition_serializer("retire"))
    def retire(self, request: Request, slug: str) -> Response:
        return self._transition(request, "retire")

    @extend_schema(
        methods=["GET"],
        summary="List an agent's keys (prefixes only, never secrets)",
        request=None,
        responses={200: AgentKeySerializer(many=True), **_detail_errors},
    )
    @extend_schema(
        methods=["POST"],
        summary="Issue a key; the secret is in the response this once only",
        request=IssueKeySerializer,
        responses={
            201: IssuedKeySerializer,
            **errors(400, 409),
            **_detail_errors,
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=IssueKeySerializer,
        pagination_class=None,  # every key of one agent, a short list: not paged
        filter_backends=[],
    )
    def keys(self, request: Request, slug: str) -> Response:
        agent = self.get_object()
        if request.method == "GET":
            keys = AgentAPIKey.objects.filter(agent=agent)
            return Response(AgentKeySerializer(keys, many=True).data)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            key, secret = services.issue_key(request.user, agent, **body.validated_data)
        except services.NotAllowed as exc:
            raise APIError(status.HTTP_403_FORBIDDEN, "permission_denied", str(exc)) from exc
        except services.InvalidTransition as exc:
            raise APIError(status.HTTP_409_CONFLICT, "invalid_state", str(exc)) from exc
        data = IssuedKeySerializer(key, context={"secret": secret}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke a key at once; its next request is refused",
        request=None,
        parameters=[
            OpenApiParameter("prefix", str, OpenApiParameter.PATH, description="The key prefix.")
        ],
        responses={200: AgentKeySerializer, **errors(409), **_detail_errors},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"keys/(?P<prefix>[^/.]+)/revoke",
        url_name="key-revoke",
        serializer_class=AgentKeySerializer,
    )
    def revoke_key(self, request: Request, slug: str, prefix: str) -> Response:
        agent = self.get_object()
        key = AgentAPIKey.objects.filter(agent=agent, prefix=prefix).first()
        if key is None:
            raise APIError(status.HTTP_404_NOT_FOUND, "not_found", "This agent has no such key.")
        try:
            key = services.revoke_key(request.user, key)
        except services.NotAllowed as exc:
            raise APIError(status.HTTP_403_FORBIDDEN, "permission_denied", str(exc)) from exc
        except services.InvalidTransition as exc:
            raise APIError(status.HTTP_409_CONFLICT, "already_revoked", str(exc)) from exc
        return Response(AgentKeySerializer(key).data)
