"""The activity feed under filters, in a real browser over a real websocket: a supervisor
narrows the feed to denied actions; an agent's denied action arrives live with its reason,
one waiting for approval does not; the row links to the action's page. No console error."""

import json
import urllib.error

from agents import services as agent_services
from tests.browser.pages import requires_chromium, sign_in
from tests.browser.test_gateway_flow import post_action
from tests.browser.test_inbox_live import (  # noqa: F401 (fixtures)
    off_the_loop,
    people,
    wait_until_live,
)

pytestmark = requires_chromium


def submit(base_url: str, key: str, payload: dict) -> tuple[int, dict]:
    """post_action(), answering a refusal (403 denied) instead of raising it."""
    try:
        return post_action(base_url, key, payload)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_filtered_feed_takes_only_matching_rows_live_and_links_to_the_action(
    people,  # noqa: F811 (fixtures imported above)
    browser,
    asgi_server,
):
    _, key = off_the_loop(lambda: agent_services.issue_key(people["agent"].owner, people["agent"]))
    problems: list[str] = []
    feed = sign_in(browser, asgi_server, "sam", problems)
    feed.goto(f"{asgi_server.url}/workflows/activity/")
    feed.select_option("#id_state", "denied")
    feed.wait_for_selector('#activity-rows[data-match-state="denied"]')
    assert "state=denied" in feed.url
    wait_until_live(feed)

    waiting_status, waiting = submit(asgi_server.url, key, {"amount": 5000})
    denied_status, denied = submit(asgi_server.url, key, {"amount": 90000})
    assert (waiting_status, denied_status) == (202, 403)
    denied_id = denied["action_id"]
    feed.wait_for_selector(f"#activity-{denied_id}")
    assert "Orders above 50000 are never placed by agents." in feed.inner_text(
        f"#activity-{denied_id}-why"
    )
    assert feed.locator(f"#activity-{waiting['id']}").count() == 0

    feed.click(f"#activity-{denied_id}-link")
    feed.wait_for_selector("#action-title")
    assert "Denied" in feed.inner_text("#action-state")
    assert problems == []
