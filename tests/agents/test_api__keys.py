"""Agent keys through the API: issued once with the secret, listed by prefix, revoked at
once; a revoked or expired key, or a key of a suspended or retired agent, is refused on
the very next request, each with its own error code."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import services
from agents.models import AgentAPIKey
from governance.models import AuditEntry

URL = "/api/v1/agents/"
ME = "/api/v1/me/"


def writes() -> tuple[int, int]:
    """What a refused request must leave untouched."""
    return AuditEntry.objects.count(), AgentAPIKey.objects.count()


def prefix_of(secret: str) -> str:
    return secret.split(".")[0]


def test_the_key_list_shows_prefixes_and_dates_but_never_secrets(world, as_user):
    response = as_user(world.supervisor_a).get(f"{URL}agent-a/keys/")
    assert response.status_code == 200
    (key,) = response.json()
    assert key["prefix"] == prefix_of(world.key_a)
    assert {"name", "created", "expires_at", "last_used_at", "revoked"} <= key.keys()
    assert "key" not in key and "hashed_key" not in key


def test_an_issued_key_is_shown_once_and_works_on_me(world, as_user, as_agent):
    builder = as_user(world.builder_a)
    audit_before, keys_before = writes()
    expires = timezone.now() + timedelta(days=30)
    response = builder.post(
        f"{URL}agent-a/keys/", {"name": "rotation", "expires_at": expires}, format="json"
    )
    assert response.status_code == 201, response.json()
    issued = response.json()
    assert issued["name"] == "rotation"
    assert issued["expires_at"] is not None
    assert issued["key"].startswith(issued["prefix"] + ".")
    assert writes() == (audit_before + 1, keys_before + 1)
    assert AuditEntry.objects.order_by("-id").first().verb == "agent.key_issued"
    assert as_agent(issued["key"]).get(ME).json()["slug"] == "agent-a"
    listed = builder.get(f"{URL}agent-a/keys/").json()
    assert issued["key"] not in str(listed)
    assert issued["prefix"] in [key["prefix"] for key in listed]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expires_at", "2001-01-01T00:00:00Z"),
        ("name", ""),
        ("prefix", "abcd1234"),
        ("revoked", True),
        ("key", "abc.def"),
        ("agent", "agent-b"),
    ],
)
def test_it_refuses_a_key_request_with_an_invalid_or_forbidden_field(world, as_user, field, value):
    before = writes()
    body = {"name": "rotation", field: value}
    response = as_user(world.builder_a).post(f"{URL}agent-a/keys/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert writes() == before


def test_it_forbids_key_management_to_those_who_only_watch_the_agent(world, as_user):
    before = writes()
    client = as_user(world.supervisor_a)
    issued = client.post(f"{URL}agent-a/keys/", {"name": "mine"}, format="json")
    revoked = client.post(f"{URL}agent-a/keys/{prefix_of(world.key_a)}/revoke/")
    assert (issued.status_code, revoked.status_code) == (403, 403)
    assert issued.json()["error"]["code"] == "permission_denied"
    assert writes() == before


def test_keys_of_an_agent_outside_scope_are_not_found(world, as_user):
    before = writes()
    client = as_user(world.builder_a)
    assert client.get(f"{URL}agent-b/keys/").status_code == 404
    assert client.post(f"{URL}agent-b/keys/", {"name": "x"}, format="json").status_code == 404
    assert client.post(f"{URL}agent-b/keys/{prefix_of(world.key_b)}/revoke/").status_code == 404
    # A key of another agent is not reachable through one's own agent either.
    assert client.post(f"{URL}agent-a/keys/{prefix_of(world.key_b)}/revoke/").status_code == 404
    assert writes() == before


def test_a_revoked_key_is_refused_on_the_very_next_request(world, as_user, as_agent):
    agent = as_agent(world.key_a)
    assert agent.get(ME).status_code == 200
    audit_before = AuditEntry.objects.count()
    response = as_user(world.builder_a).post(f"{URL}agent-a/keys/{prefix_of(world.key_a)}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert AuditEntry.objects.count() == audit_before + 1
    refused = agent.get(ME)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_revoked"


def test_revoking_a_revoked_key_is_a_conflict_that_writes_nothing(world, as_user):
    client = as_user(world.builder_a)
    url = f"{URL}agent-a/keys/{prefix_of(world.key_a)}/revoke/"
    assert client.post(url).status_code == 200
    audit_before = AuditEntry.objects.count()
    again = client.post(url)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_revoked"
    assert AuditEntry.objects.count() == audit_before


def test_an_expired_key_is_refused_on_the_very_next_request(world, as_agent):
    _, secret = services.issue_key(
        world.builder_a, world.agent_a, expires_at=timezone.now() + timedelta(seconds=1)
    )
    agent = as_agent(secret)
    assert agent.get(ME).status_code == 200  # the key is now cached by this process
    time.sleep(1.1)  # its expiry passes; nothing about the key changes in the database
    refused = agent.get(ME)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_expired"


def test_a_suspended_agents_key_is_refused_until_it_is_resumed(world, as_user, as_agent):
    agent, supervisor = as_agent(world.key_a), as_user(world.supervisor_a)
    assert agent.get(ME).status_code == 200
    suspended = supervisor.post(f"{URL}agent-a/suspend/", {"note": "Odd."}, format="json")
    assert suspended.status_code == 200
    refused = agent.get(ME)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "agent_suspended"
    assert supervisor.post(f"{URL}agent-a/resume/", {}, format="json").status_code == 200
    assert agent.get(ME).status_code == 200


def test_a_retired_agents_keys_are_revoked_and_refused(world, as_user, as_agent):
    agent = as_agent(world.key_a)
    assert agent.get(ME).status_code == 200
    retired = as_user(world.builder_a).post(f"{URL}agent-a/retire/", {}, format="json")
    assert retired.status_code == 200
    assert all(key["revoked"] for key in retired.json()["keys"])
    # Retiring revokes every key; the refusal names the reason: the agent is retired.
    refused = agent.get(ME)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "agent_retired")


def test_a_retired_agent_gets_no_new_keys(world, as_user):
    client = as_user(world.builder_a)
    client.post(f"{URL}agent-a/retire/", {}, format="json")
    before = writes()
    response = client.post(f"{URL}agent-a/keys/", {"name": "again"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert writes() == before


def test_a_verified_key_is_not_read_again_while_nothing_changed(world, as_agent):
    agent = as_agent(world.key_a)
    assert agent.get(ME).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert agent.get(ME).status_code == 200
    assert not [q for q in captured.captured_queries if "agents_agentapikey" in q["sql"]]
