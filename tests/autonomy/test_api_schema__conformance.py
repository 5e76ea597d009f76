"""The schema and the answers agree, case by case where fuzzing found them apart: fields that
come back null are documented nullable, a list's filters document their 400, a note the
schema marks required is required (and one it marks optional is optional), and a field
documented as a string takes nothing else."""

import pytest
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from autonomy.core import api_fields


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema, name: str) -> dict:
    return schema["components"]["schemas"][name]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("Escalation", ["assigned_to", "claimed_by", "decided_by"]),
        ("AuditEntry", ["business_unit"]),
        ("PolicyVersion", ["created_by", "published_by"]),
    ],
)
def test_fields_that_may_be_null_are_documented_nullable(schema, name, fields):
    properties = component(schema, name)["properties"]
    for field in fields:
        assert properties[field].get("nullable") is True, f"{name}.{field}"


def test_a_field_that_is_never_null_is_not_documented_nullable(schema):
    properties = component(schema, "Escalation")["properties"]
    assert "nullable" not in properties["queue"] and "nullable" not in properties["id"]


def test_every_operation_with_query_parameters_documents_400_and_with_path_parameters_404(
    schema,
):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            places = {parameter["in"] for parameter in operation.get("parameters", [])}
            if "query" in places:
                assert "400" in operation["responses"], f"{method.upper()} {path}"
            if "path" in places:
                assert "404" in operation["responses"], f"{method.upper()} {path}"


@pytest.mark.parametrize("transition", ["reject", "suspend"])
def test_a_note_the_api_requires_is_documented_as_required(schema, transition):
    operation = schema["paths"][f"/api/v1/agents/{{slug}}/{transition}/"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = component(schema, ref.rsplit("/", 1)[1])
    assert body["required"] == ["note"]
    assert body["properties"]["note"].get("minLength") == 1


def test_a_note_the_schema_marks_optional_is_optional(world, as_user):
    from agents.models import AgentState

    world.agent_a.state = AgentState.SUSPENDED
    world.agent_a.save()
    response = as_user(world.coe).post("/api/v1/agents/agent-a/resume/", {}, format="json")
    assert response.status_code == 200, response.content


def test_suspending_without_a_note_is_refused_as_the_schema_says(world, as_user):
    response = as_user(world.coe).post("/api/v1/agents/agent-a/suspend/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"note"}


@pytest.mark.parametrize("value", [0, 1.5, True, ["a"], {"a": 1}])
def test_a_number_or_anything_else_where_a_string_is_documented_is_refused(world, as_user, value):
    response = as_user(world.coe).post(
        "/api/v1/agents/agent-a/suspend/", {"note": value}, format="json"
    )
    assert response.status_code == 400
    assert "note" in response.json()["error"]["fields"]
    world.agent_a.refresh_from_db()
    assert world.agent_a.state == "active"


def writable_text_fields(serializer, path=""):
    """(dotted name, field) of every writable text field of `serializer`, nested included."""
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        where = f"{path}{name}"
        if isinstance(field, serializers.BaseSerializer) and hasattr(field, "fields"):
            yield from writable_text_fields(field, f"{where}.")
        while isinstance(field, (serializers.ListField, serializers.DictField)):
            field = field.child
        if isinstance(field, serializers.CharField):
            yield where, field


def api_serializers() -> list[type]:
    """Every serializer class of our API modules (all imported first, through the URLs)."""
    get_resolver().url_patterns
    found, todo = [], [serializers.Serializer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("agents", "governance", "workflows", "autonomy"):
            found.append(cls)
    return found


def test_every_writable_text_field_of_the_api_refuses_non_strings(world):
    lenient = []
    for cls in api_serializers():
        try:
            instance = cls(context={"request": None, "transition": "reject"})
            fields = list(writable_text_fields(instance))
        except Exception:  # a serializer that needs a real request to build its fields
            continue
        for name, field in fields:
            if not isinstance(field, api_fields.StrictTextMixin):
                lenient.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert lenient == [], "use autonomy.core.api_fields.StrictCharField (or its ModelSerializer)"


@pytest.mark.parametrize(
    ("verb", "body"),
    [("approve", {"note": 0}), ("reject", {"reason": 0}), ("reassign", {"person": 7})],
)
def test_an_escalation_decision_with_a_number_for_its_text_changes_nothing(
    world, as_user, verb, body
):
    from tests.workflows.test_inbox import make_governed, submit

    make_governed()
    escalation = submit(world.agent_a, {"amount": 5000})
    response = as_user(world.supervisor_a).post(
        f"/api/v1/escalations/{escalation.pk}/{verb}/", body, format="json"
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == set(body)
    escalation.refresh_from_db()
    assert escalation.state == "open" and escalation.decided_by_id is None
