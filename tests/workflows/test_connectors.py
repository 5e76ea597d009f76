"""Connector kinds against a real local HTTP server (pytest-httpserver): what is sent, how
answers and failures are classified, which hosts are refused, and the sandbox and email."""

import json
import socket
import time
from functools import partial
from urllib.parse import quote

import pytest
from django.core import mail
from standardwebhooks import Webhook
from werkzeug import Response

from governance.redaction import PREFIX
from tests.workflows.factories import (
    API_TOKEN,
    WEBHOOK_SECRET,
    make_action,
    make_action_type,
    make_connector,
)
from workflows.connectors import ConnectorError, connector_for
from workflows.connectors.base import fill
from workflows.connectors.http import HttpConnector, send
from workflows.models import SandboxEffect

PAYLOAD = {"order": {"id": "PO 7/1"}, "amount": 120.5, "supplier": "ACME"}


@pytest.fixture
def http_action(world, httpserver):
    """An action whose type runs on an http connector pointed at the test server."""

    def build(path="/orders", payload=None, **config):
        connector = make_connector(
            "http",
            config={
                "url": httpserver.url_for(path),
                "allow_private_hosts": True,
                "timeout_seconds": 2,
                **config,
            },
            secrets={"headers": {"Authorization": API_TOKEN}},
        )
        action_type = make_action_type(connector=connector)
        return make_action(world.agent_a, action_type, PAYLOAD if payload is None else payload)

    return build


def run(action):
    return connector_for(action).execute(action, action.payload, str(action.pk))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Templating


def test_a_whole_placeholder_keeps_the_fields_json_type():
    assert fill({"n": "{payload.amount}", "o": "{payload.order}"}, PAYLOAD) == {
        "n": 120.5,
        "o": {"id": "PO 7/1"},
    }


def test_placeholders_inside_text_are_inserted_as_text():
    assert fill("PO {payload.order.id} for {payload.amount}", PAYLOAD) == "PO PO 7/1 for 120.5"


def test_url_placeholders_are_quoted_so_a_value_cannot_change_the_path_or_query():
    url = fill(
        "https://x/orders/{payload.id}?s={payload.s}",
        {"id": "../admin", "s": "a&b=c"},
        quote=partial(quote, safe=""),
    )
    assert url == "https://x/orders/..%2Fadmin?s=a%26b%3Dc"


def test_a_missing_payload_field_is_a_permanent_error():
    with pytest.raises(ConnectorError) as caught:
        fill("{payload.order.number}", PAYLOAD)
    assert caught.value.permanent
    assert "order.number" in caught.value.message


# The http connector


def test_it_sends_the_templated_request_with_secret_headers_and_the_idempotency_key(
    http_action, httpserver
):
    httpserver.expect_request("/orders/PO 7/1", method="PUT").respond_with_json(
        {"erp_id": 42}, status=201
    )
    action = http_action(
        path="/orders/{payload.order.id}",
        method="PUT",
        body={"supplier": "{payload.supplier}", "total": "{payload.amount}", "source": "agent"},
        headers={"X-Tenant": "north"},
    )

    result = run(action)

    assert (result.status_code, result.data) == (201, {"erp_id": 42})
    assert len(httpserver.log) == 1
    request, _ = httpserver.log[0]
    assert request.environ["REQUEST_URI"] == "/orders/PO%207%2F1"
    assert request.get_json() == {"supplier": "ACME", "total": 120.5, "source": "agent"}
    assert request.headers["Idempotency-Key"] == str(action.pk)
    assert request.headers["Authorization"] == API_TOKEN
    assert request.headers["X-Tenant"] == "north"
    assert request.headers["Content-Type"] == "application/json"


def test_without_a_body_template_the_payload_is_posted(http_action, httpserver):
    httpserver.expect_request("/orders", method="POST").respond_with_data("ok")
    result = run(http_action())
    assert httpserver.log[0][0].get_json() == PAYLOAD
    assert (result.status_code, result.data, result.excerpt) == (200, None, "ok")


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503])
def test_busy_and_server_errors_are_temporary(http_action, httpserver, status):
    httpserver.expect_request("/orders").respond_with_data("busy", status=status)
    with pytest.raises(ConnectorError) as caught:
        run(http_action())
    error = caught.value
    assert (error.permanent, error.unknown_outcome, error.status_code) == (False, False, status)
    assert error.excerpt == "busy"


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 409, 422])
def test_other_answers_are_permanent(http_action, httpserver, status):
    httpserver.expect_request("/orders").respond_with_data("no", status=status)
    with pytest.raises(ConnectorError) as caught:
        run(http_action())
    assert caught.value.permanent and not caught.value.unknown_outcome
    assert caught.value.status_code == status


def test_a_refused_connection_is_temporary_because_nothing_was_sent(world):
    connector = make_connector(
        "http", config={"url": f"http://127.0.0.1:{closed_port()}/x", "allow_private_hosts": True}
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    with pytest.raises(ConnectorError) as caught:
        run(action)
    assert not caught.value.permanent and not caught.value.unknown_outcome


def test_no_answer_after_sending_is_an_unknown_outcome(http_action, httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/orders").respond_with_handler(slow)
    with pytest.raises(ConnectorError) as caught:
        run(http_action(timeout_seconds=0.3))
    assert caught.value.unknown_outcome
    assert "after the request was sent" in caught.value.message
    time.sleep(0.8)  # the server finishes its answer to nobody
    assert len(httpserver.log) == 1


# Host allow-list


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/x",
        "http://localhost:{port}/x",
        "http://[::1]:{port}/x",
        "http://10.1.2.3:{port}/x",
        "http://192.168.0.10:{port}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://0.0.0.0:{port}/x",
    ],
)
def test_loopback_private_and_link_local_hosts_are_refused_by_default(world, httpserver, url):
    connector = make_connector(
        "http", config={"url": url.format(port=httpserver.port), "connect_timeout_seconds": 0.5}
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    with pytest.raises(ConnectorError) as caught:
        run(action)
    assert caught.value.permanent
    assert caught.value.message.startswith("Refused:")
    assert httpserver.log == []


def test_a_host_off_the_allowed_list_is_refused_before_any_lookup(world):
    connector = make_connector(
        "http",
        config={"url": "https://evil.example.net/x", "allowed_hosts": ["erp.example.com"]},
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    with pytest.raises(ConnectorError) as caught:
        run(action)
    assert caught.value.permanent and "allowed hosts" in caught.value.message


def test_allowed_hosts_accept_listed_names_and_subdomain_wildcards(http_action, httpserver):
    httpserver.expect_request("/orders").respond_with_data("ok")
    assert run(http_action(allowed_hosts=["localhost"])).status_code == 200
    assert run(http_action(allowed_hosts=["*.localhost", "localhost"])).status_code == 200


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "http://{payload.host}/x"}, "not in its host"),
        ({"url": "ftp://files.example.com/x"}, "http:// or https://"),
        ({"url": "https://user:pw@erp.example.com/x"}, "secret headers"),
        ({"url": "https://erp.example.com/x", "method": "TRACE"}, "config.method"),
        ({"url": "https://erp.example.com/x", "timeout_seconds": -1}, "timeout_seconds"),
        ({}, "config.url is required"),
    ],
)
def test_a_misconfigured_http_connector_is_refused_with_the_reason(config, message):
    errors = HttpConnector.config_errors(config, {})
    assert any(message in error for error in errors), errors


def test_the_transport_never_follows_redirects(httpserver):
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("b")
    response = send("GET", httpserver.url_for("/a"), body=None, headers={}, allow_private=True)
    assert response.status == 302
    assert len(httpserver.log) == 1


# Webhook connector


def test_the_webhook_connector_posts_a_standard_webhooks_signed_body(world, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    connector = make_connector(
        "webhook",
        config={"url": httpserver.url_for("/hook"), "allow_private_hosts": True},
        secrets={"signing_secret": WEBHOOK_SECRET},
    )
    action = make_action(world.agent_a, make_action_type(connector=connector), PAYLOAD)

    assert run(action).status_code == 204

    request, _ = httpserver.log[0]
    body = request.get_data(as_text=True)
    verified = Webhook(WEBHOOK_SECRET).verify(body, dict(request.headers))
    assert verified["type"] == action.action_type.name
    assert verified["data"] == {"action_id": str(action.pk), "payload": PAYLOAD}
    assert request.headers["webhook-id"] == str(action.pk)
    assert request.headers["Idempotency-Key"] == str(action.pk)


def test_a_webhook_signed_with_another_secret_does_not_verify(world, httpserver):
    httpserver.expect_request("/hook").respond_with_data("")
    connector = make_connector(
        "webhook",
        config={"url": httpserver.url_for("/hook"), "allow_private_hosts": True},
        secrets={"signing_secret": WEBHOOK_SECRET},
    )
    run(make_action(world.agent_a, make_action_type(connector=connector)))
    request, _ = httpserver.log[0]
    other = Webhook("whsec_" + "QUJD" * 8)
    with pytest.raises(Exception, match="No matching signature"):
        other.verify(request.get_data(as_text=True), dict(request.headers))


def test_a_webhook_connector_without_a_signing_secret_is_permanent(world, httpserver):
    connector = make_connector(
        "webhook", config={"url": httpserver.url_for("/hook"), "allow_private_hosts": True}
    )
    with pytest.raises(ConnectorError) as caught:
        run(make_action(world.agent_a, make_action_type(connector=connector)))
    assert caught.value.permanent and "signing_secret" in caught.value.message
    assert httpserver.log == []


def test_the_webhook_connector_classifies_answers_like_http(world, httpserver):
    httpserver.expect_request("/hook").respond_with_data("", status=503)
    connector = make_connector(
        "webhook",
        config={"url": httpserver.url_for("/hook"), "allow_private_hosts": True},
        secrets={"signing_secret": WEBHOOK_SECRET},
    )
    with pytest.raises(ConnectorError) as caught:
        run(make_action(world.agent_a, make_action_type(connector=connector)))
    assert not caught.value.permanent and caught.value.status_code == 503


# Email


def test_the_email_connector_sends_one_templated_message(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    connector = make_connector(
        "email",
        config={
            "to": ["{payload.contact}", "ap@example.com"],
            "subject": "PO for {payload.supplier}",
            "body": "Please order {payload.amount} units.",
        },
    )
    action = make_action(
        world.agent_a,
        make_action_type(connector=connector),
        {"contact": "buyer@example.com", "supplier": "ACME", "amount": 3},
    )

    result = run(action)

    assert result.data == {"sent": True}
    [message] = mail.outbox
    assert message.to == ["buyer@example.com", "ap@example.com"]
    assert message.subject == "PO for ACME"
    assert message.body == "Please order 3 units."
    assert message.extra_headers["Message-ID"] == f"<{action.pk}@autonomy-os>"


def test_an_email_to_a_non_address_is_permanent(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    connector = make_connector("email", config={"to": ["{payload.contact}"]})
    action = make_action(
        world.agent_a, make_action_type(connector=connector), {"contact": "not an address"}
    )
    with pytest.raises(ConnectorError) as caught:
        run(action)
    assert caught.value.permanent
    assert mail.outbox == []


def test_an_unreachable_mail_server_is_temporary(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 1
    connector = make_connector("email", config={"to": ["ap@example.com"]})
    with pytest.raises(ConnectorError) as caught:
        run(make_action(world.agent_a, make_action_type(connector=connector)))
    assert not caught.value.permanent and not caught.value.unknown_outcome


# Sandbox


def test_the_sandbox_records_the_effect_once_with_sensitive_fields_hashed(world):
    action_type = make_action_type(sensitive_fields=["iban"])
    action = make_action(
        world.agent_a, action_type, {"amount": 5, "iban": "DE44500105175407324931"}
    )

    first, again = run(action), run(action)

    effect = SandboxEffect.objects.get(action=action)
    assert first.data == again.data == {"sandbox_effect_id": effect.pk}
    assert effect.payload["amount"] == 5
    assert effect.payload["iban"].startswith(PREFIX)
    assert "DE44500105175407324931" not in json.dumps(effect.payload)
    assert (effect.agent_slug, effect.action_name) == ("agent-a", action_type.name)


def test_shadow_actions_go_to_the_sandbox_whatever_their_connector(http_action, httpserver):
    action = http_action()
    action.shadow = True
    result = run(action)
    assert httpserver.log == []
    assert SandboxEffect.objects.filter(action=action).exists()
    assert result.data == {"sandbox_effect_id": action.sandbox_effect.pk}
