"""The published OpenAPI schema (/api/schema/, /api/docs/) is valid and generated without a
warning: a warning is a client-visible wart (a numbered enum name, an untyped field)."""

from django.core.management import call_command


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "/api/v1/escalations/{id}/approve/" in schema
    assert "EscalationStateEnum" in schema and "AgentStateEnum" in schema
