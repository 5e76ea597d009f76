"""GET /api/v1/me/: an agent learns who it is and what it may do; nobody else may ask."""

from agents.models import AgentAPIKey

URL = "/api/v1/me/"


def test_an_agent_sees_its_identity_role_unit_level_and_granted_patterns(world, as_agent):
    response = as_agent(world.key_a).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("slug", "name", "purpose", "state")} == {
        "slug": "agent-a",
        "name": "Agent A",
        "purpose": "Testing.",
        "state": "active",
    }
    assert body["role"] == {"slug": "buyer", "name": "Buyer"}
    assert body["business_unit"] == {"slug": "unit-a", "name": "Unit-A"}
    assert body["autonomy_level"] == {"value": 2, "label": "L2 guarded"}
    assert body["capabilities"] == ["testing"]
    assert body["action_patterns"] == ["erp.purchase_order.*"]
    assert body["data_classifications"] == ["internal"]
    assert body["key"]["prefix"] == world.key_a.split(".")[0]


def test_each_agent_sees_only_itself(world, as_agent):
    body = as_agent(world.key_b).get(URL).json()
    assert (body["slug"], body["business_unit"]["slug"]) == ("agent-b", "unit-b")


def test_it_records_when_a_key_was_last_used(world, as_agent):
    prefix = world.key_a.split(".")[0]
    assert AgentAPIKey.objects.get(prefix=prefix).last_used_at is None
    as_agent(world.key_a).get(URL)
    assert AgentAPIKey.objects.get(prefix=prefix).last_used_at is not None


def test_it_tells_a_person_that_me_is_for_agents(world, as_user):
    response = as_user(world.coe).get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "agent_only"


def test_it_refuses_an_unknown_key(world, as_agent):
    prefix = world.key_a.split(".")[0]
    response = as_agent(f"{prefix}.not-the-secret").get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_key"


def test_it_asks_an_anonymous_caller_to_authenticate(world, api):
    response = api.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_authorization_scheme_is_case_insensitive(world, api):
    for scheme in ("Bearer", "bearer", "BEARER", "Api-Key", "api-key"):
        api.credentials(HTTP_AUTHORIZATION=f"{scheme} {world.key_a}")
        response = api.get(URL)
        assert (scheme, response.status_code) == (scheme, 200)
        assert response.json()["slug"] == "agent-a"
