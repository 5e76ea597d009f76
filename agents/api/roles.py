"""Agent roles over the API: every signed-in person reads them; COE staff define them."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from agents.api.schema import AutonomyLevelField
from agents.models import AgentRole, DataClassification, validate_action_patterns
from agents.services import ROLE_FIELDS, create_role, update_role
from autonomy.core import api_fields
from autonomy.core.api_permissions import IsCOEOrReadOnly, IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance.api.viewsets import SlugViewSet

__all__ = ["AgentRoleSerializer", "AgentRoleViewSet"]


@contextmanager
def _unique_as_400() -> Iterator[None]:
    """Invalid data that got past the serializer (a concurrent request took the slug or
    name after validation) is a 400, not a 500."""
    try:
        yield
    except IntegrityError as exc:
        raise serializers.ValidationError(
            {"name": ["A role with this slug or name already exists."]}
        ) from exc
    except DjangoValidationError as exc:
        raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc


class AgentRoleSerializer(StrictSerializerMixin, api_fields.ModelSerializer):
    """What an agent role grants: action patterns, data classifications, defaults."""

    action_patterns = serializers.ListField(
        child=api_fields.StrictCharField(max_length=200),
        validators=[validate_action_patterns],
        help_text="Dotted action patterns the role grants, e.g. crm.opportunity.*",
    )
    data_classifications = serializers.ListField(
        child=serializers.ChoiceField(choices=DataClassification.choices),
        required=False,
        help_text="Classifications of data the role may touch.",
    )
    default_autonomy_level = AutonomyLevelField(required=False)
    default_limits = serializers.DictField(required=False, help_text="Default limits by name.")

    class Meta:
        model = AgentRole
        fields = ["id", *ROLE_FIELDS]
        read_only_fields = ["id"]

    def validate_slug(self, value: str) -> str:
        if self.instance is not None and value != self.instance.slug:
            raise serializers.ValidationError("A role's slug cannot be changed.")
        return value

    def create(self, validated_data) -> AgentRole:
        with _unique_as_400():
            return create_role(self.context["request"].user, **validated_data)

    def update(self, instance, validated_data) -> AgentRole:
        with _unique_as_400():
            return update_role(self.context["request"].user, instance, **validated_data)


_errors = errors(401, 403)


@extend_schema_view(
    list=extend_schema(
        summary="List agent roles", responses={200: AgentRoleSerializer(many=True), **_errors}
    ),
    retrieve=extend_schema(
        summary="One agent role",
        responses={200: AgentRoleSerializer, **errors(404), **_errors},
    ),
    create=extend_schema(
        summary="Define an agent role (COE staff only)",
        responses={201: AgentRoleSerializer, **errors(400), **_errors},
    ),
    update=extend_schema(
        summary="Redefine an agent role (COE staff only)",
        responses={200: AgentRoleSerializer, **errors(400, 404), **_errors},
    ),
    partial_update=extend_schema(
        summary="Change some of an agent role's fields (COE staff only)",
        responses={200: AgentRoleSerializer, **errors(400, 404), **_errors},
    ),
)
class AgentRoleViewSet(mixins.UpdateModelMixin, SlugViewSet):
    """Agent roles are global (COE standards), so every person may read all of them."""

    queryset = AgentRole.objects.all()
    serializer_class = AgentRoleSerializer
    permission_classes = [IsPerson, IsCOEOrReadOnly]
