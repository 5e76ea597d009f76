"""OpenAPI descriptions that the schema generator cannot infer: agent keys and levels.

Imported by agents.api.urls so the extension is registered before the schema is built.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import AutonomyLevel

__all__ = ["AgentKeyScheme", "AutonomyLevelField"]


class AgentKeyScheme(OpenApiAuthenticationExtension):
    """Agents authenticate with `Authorization: Bearer <key>`."""

    target_class = "agents.authentication.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An agent's API key, issued by its owner (shown once).",
        }


@extend_schema_field(
    {
        "type": "integer",
        "enum": AutonomyLevel.values,
        "description": "; ".join(f"{level.value} = {level.label}" for level in AutonomyLevel),
    },
    component_name="AutonomyLevelEnum",
)
class AutonomyLevelField(serializers.ChoiceField):
    """An autonomy level (0-3), described once in the schema for every serializer."""

    def __init__(self, **kwargs):
        super().__init__(choices=AutonomyLevel.choices, **kwargs)
