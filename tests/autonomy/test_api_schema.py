"""The published OpenAPI schema (/api/schema/, /api/docs/) is valid and generated without a
warning: a warning is a client-visible wart (a numbered enum name, an untyped field)."""

from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from governance import policies


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "/api/v1/escalations/{id}/approve/" in schema
    assert "EscalationStateEnum" in schema and "AgentStateEnum" in schema


def test_the_short_lists_are_documented_as_the_bare_arrays_they_are(world, as_user):
    """An agent's keys and a policy's versions are answered whole, not paged."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    policy = policies.create_policy(world.coe, "baseline", "Baseline")
    client = as_user(world.coe)
    for path, url in [
        ("/api/v1/agents/{slug}/keys/", "/api/v1/agents/agent-a/keys/"),
        ("/api/v1/policies/{slug}/versions/", f"/api/v1/policies/{policy.slug}/versions/"),
    ]:
        get = schema["paths"][path]["get"]
        assert get["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
        assert [p["name"] for p in get.get("parameters", [])] == ["slug"]  # no paging, filters
        body = client.get(url).json()
        assert isinstance(body, list) and body, url
