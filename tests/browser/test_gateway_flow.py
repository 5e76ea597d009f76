"""The governed action end to end, in a real browser over a real websocket: an agent posts
an action that needs approval to the REST API, the supervisor's open inbox shows it without
a reload, the supervisor approves, the worker's step executes it against a real local HTTP
server (the system of record), and the live activity feed shows it succeeded."""

import json
import urllib.request
import uuid

from agents import services as agent_services
from tests.browser.pages import requires_chromium, sign_in
from tests.browser.test_inbox_live import off_the_loop, people, wait_until_live  # noqa: F401
from workflows import execution
from workflows.models import ActionRequest, ActionType, Connector

pytestmark = requires_chromium


def wire_connector(url: str) -> None:
    """Purchase orders go to the test server through an http connector."""
    connector = Connector.objects.create(
        slug="erp",
        name="ERP",
        kind=Connector.Kind.HTTP,
        config={"method": "POST", "url": url, "allow_private_hosts": True},
    )
    ActionType.objects.filter(name="erp.purchase_order.create").update(connector=connector)


def post_action(base_url: str, key: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/actions/",
        data=json.dumps({"action": "erp.purchase_order.create", "payload": payload}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_an_agents_request_is_approved_live_and_executed_once(
    people,  # noqa: F811 (the fixture imported above)
    browser,
    asgi_server,
    httpserver,
):
    httpserver.expect_request("/orders", method="POST").respond_with_json({"po": "PO-1"})
    off_the_loop(wire_connector, httpserver.url_for("/orders"))
    _, key = off_the_loop(lambda: agent_services.issue_key(people["agent"].owner, people["agent"]))
    problems: list[str] = []
    inbox = sign_in(browser, asgi_server, "sam", problems)
    inbox.goto(f"{asgi_server.url}/workflows/inbox/")
    wait_until_live(inbox)
    inbox.evaluate("window.notReloaded = true")

    status, body = post_action(asgi_server.url, key, {"amount": 5000, "supplier": "ACME"})
    assert status == 202
    row = f"#escalation-{body['escalation_id']}"
    inbox.wait_for_selector(row)
    assert inbox.evaluate("window.notReloaded") is True

    feed = inbox.context.new_page()
    feed.goto(f"{asgi_server.url}/")
    wait_until_live(feed)
    inbox.goto(f"{asgi_server.url}/workflows/inbox/{body['escalation_id']}/")
    inbox.fill("#approve-form textarea[name=note]", "Within budget.")
    inbox.click("#approve-button")
    inbox.wait_for_selector("#decision-notice")

    # The worker's step: claim, call the system of record, record the outcome.
    assert off_the_loop(execution.execute, body["id"]) == "succeeded"
    # Selector waits, not wait_for_function: the strict CSP forbids evaluating strings.
    feed.wait_for_selector(f"#activity-{body['id']}[data-state=succeeded]", timeout=10_000)
    (call,) = httpserver.log
    assert call[0].headers["Idempotency-Key"] == body["id"]
    assert json.loads(call[0].data)["supplier"] == "ACME"
    action = off_the_loop(lambda: ActionRequest.objects.get(pk=body["id"]))
    assert action.state == "succeeded" and action.result == {"po": "PO-1"}
    assert problems == []
