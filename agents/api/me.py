"""GET /api/v1/me/: an agent asks who it is and what it is allowed to do."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers

from agents.models import Agent, AutonomyLevel
from autonomy.core import api_fields
from autonomy.core.api_permissions import IsAgent
from autonomy.core.serializers import errors

__all__ = ["MeSerializer", "MeView"]


class NamedRefSerializer(serializers.Serializer):
    """A reference to a role or business unit: its slug and name."""

    slug = api_fields.StrictSlugField(read_only=True)
    name = api_fields.StrictCharField(read_only=True)


class AutonomyLevelDisplaySerializer(serializers.Serializer):
    """An autonomy level as its number and its label (e.g. 2, "L2 guarded")."""

    value = serializers.IntegerField(read_only=True)
    label = api_fields.StrictCharField(read_only=True)


class CurrentKeySerializer(serializers.Serializer):
    """The key that authenticated this request, so an agent knows when to rotate it."""

    prefix = api_fields.StrictCharField(read_only=True)
    name = api_fields.StrictCharField(read_only=True)
    expires_at = serializers.DateTimeField(source="expiry_date", read_only=True, allow_null=True)


class MeSerializer(api_fields.ModelSerializer):
    """An agent's identity, role, business unit, level and what its role grants."""

    role = NamedRefSerializer(read_only=True)
    business_unit = NamedRefSerializer(read_only=True)
    autonomy_level = serializers.SerializerMethodField()
    action_patterns = serializers.ListField(
        source="role.action_patterns",
        child=api_fields.StrictCharField(),
        read_only=True,
        help_text="Action patterns the agent's role grants, e.g. crm.opportunity.*",
    )
    data_classifications = serializers.ListField(
        source="role.data_classifications",
        child=api_fields.StrictCharField(),
        read_only=True,
        help_text="Classifications of data the agent's role may touch.",
    )
    key = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = [
            "slug",
            "name",
            "purpose",
            "role",
            "business_unit",
            "autonomy_level",
            "capabilities",
            "action_patterns",
            "data_classifications",
            "state",
            "key",
        ]
        read_only_fields = fields

    @extend_schema_field(AutonomyLevelDisplaySerializer)
    def get_autonomy_level(self, agent: Agent) -> dict:
        level = AutonomyLevel(agent.autonomy_level)
        return {"value": level.value, "label": level.label}

    @extend_schema_field(CurrentKeySerializer)
    def get_key(self, agent: Agent) -> dict:
        return CurrentKeySerializer(self.context["request"].user.key).data


@extend_schema(
    summary="Who am I: the calling agent's identity and what it is allowed to do",
    responses={200: MeSerializer, **errors(401, 403)},
)
class MeView(generics.RetrieveAPIView):
    """The calling agent itself; people get 403 `agent_only`."""

    queryset = Agent.objects.select_related("role", "business_unit")
    serializer_class = MeSerializer
    permission_classes = [IsAgent]

    def get_object(self) -> Agent:
        principal = self.request.user
        return self.get_queryset().for_agent(principal.agent).get()
