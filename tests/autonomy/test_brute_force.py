"""Guessing is slowed down and shown: wrong passwords lock a username out of signing in from
that address (django-axes) until the cool-off passes or an administrator unlocks it, and
an address that keeps sending bad agent keys is answered 429. Neither touches the other's
path: agent keys are never locked out by sign-in failures, and a valid key is never
refused for its address's failures."""

import pytest
from django.core.management import call_command
from django.test import Client

from agents import services as agent_services
from autonomy.core.client_address import client_address

PASSWORD = "correct horse battery staple"
HERE, ELSEWHERE = "192.0.2.10", "192.0.2.20"


@pytest.fixture
def person(world):
    world.supervisor_a.set_password(PASSWORD)
    world.supervisor_a.save()
    return world.supervisor_a


def sign_in(password: str, username: str = "supervisor-a", address: str = HERE):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return client, response


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_lock_the_username_out_from_that_address(person, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _, response = sign_in("wrong")
        assert response.status_code == 200 and b"did not match" in response.content
    client, response = sign_in("wrong")
    assert response.status_code == 429
    client, response = sign_in(PASSWORD)
    assert response.status_code == 429 and not signed_in(client)
    page = response.content.decode()
    assert "Sign-in locked" in page and "supervisor-a" in page
    assert "axes_reset_username" in page
    assert "0:15:00" in page  # the cool-off, said on the page


def test_twenty_wrong_passwords_never_end_in_a_sign_in(person):
    for _ in range(20):
        sign_in("wrong")
    client, response = sign_in(PASSWORD)
    assert response.status_code == 429 and not signed_in(client)


def test_a_locked_out_username_still_signs_in_from_another_address(person, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong")
    client, response = sign_in(PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302 and signed_in(client)


def test_an_administrator_unlocks_a_username_with_axes_reset_username(person, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong")
    assert sign_in(PASSWORD)[1].status_code == 429
    call_command("axes_reset_username", "supervisor-a")
    client, response = sign_in(PASSWORD)
    assert response.status_code == 302 and signed_in(client)


def test_a_successful_sign_in_starts_the_count_again(person, settings):
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            sign_in("wrong")
        client, response = sign_in(PASSWORD)
        assert response.status_code == 302 and signed_in(client)


def test_the_admin_login_is_locked_out_too(person, settings):
    client = Client(REMOTE_ADDR=HERE)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "supervisor-a", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "supervisor-a", "password": PASSWORD})
    assert response.status_code == 429


def test_sign_in_failures_never_lock_out_the_api(person, world, as_agent, as_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        sign_in("wrong")
    assert as_agent(world.key_a).get("/api/v1/me/", REMOTE_ADDR=HERE).status_code == 200
    assert as_user(person).get("/api/v1/agents/", REMOTE_ADDR=HERE).status_code == 200


@pytest.fixture
def limit(settings) -> int:
    settings.AUTONOMY_KEY_FAILURE_LIMIT = 3
    return 3


def me(as_agent, secret: str, address: str = HERE):
    return as_agent(secret).get("/api/v1/me/", REMOTE_ADDR=address)


def test_an_address_sending_bad_keys_gets_429_with_retry_after(world, as_agent, limit):
    bad = "AbCdEfGh.wrong-secret"
    for _ in range(limit):
        response = me(as_agent, bad)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_key"
    response = me(as_agent, bad)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_failed_authentications"
    assert set(response.json()["error"]) >= {"code", "message"}
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_valid_key_works_from_a_throttled_address_and_other_addresses_are_not_throttled(
    world, as_agent, limit
):
    for _ in range(limit + 2):
        me(as_agent, "AbCdEfGh.wrong-secret")
    assert me(as_agent, "AbCdEfGh.wrong-secret").status_code == 429
    assert me(as_agent, world.key_a).status_code == 200
    assert me(as_agent, "AbCdEfGh.wrong-secret", address=ELSEWHERE).status_code == 401


def test_revoked_keys_count_as_failures(world, as_agent, limit):
    key, secret = agent_services.issue_key(world.builder_a, world.agent_a)
    agent_services.revoke_key(world.builder_a, key)
    for _ in range(limit):
        assert me(as_agent, secret).json()["error"]["code"] == "key_revoked"
    assert me(as_agent, secret).status_code == 429


def test_the_client_address_is_the_one_the_configured_proxies_saw(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5")
    assert client_address(request) == "10.9.9.9"  # no proxies: a client writes that header
    settings.AUTONOMY_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.5"
    settings.AUTONOMY_PROXY_COUNT = 3  # fewer entries than proxies: the peer
    assert client_address(request) == "10.9.9.9"


def test_a_request_without_an_address_has_none(rf):
    request = rf.get("/")
    del request.META["REMOTE_ADDR"]
    assert client_address(request) is None
