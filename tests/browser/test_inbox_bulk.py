"""In a real browser, over a real websocket: a supervisor filters the inbox (the URL follows),
new escalations arrive and only those matching the filter appear, the supervisor selects
three and approves them with one note; the inbox and the menu's count follow without a
reload (the home page's count too), and the three actions execute.

Execution: on PostgreSQL a real Celery worker process takes the approved actions from the
broker (it shares the test database); on SQLite the test database lives in this process's
memory, where no worker process can reach it, so the worker's step runs here."""

import time

import pytest
from django.db import connection

from tests.browser.pages import requires_chromium, sign_in
from tests.browser.test_inbox_live import (  # noqa: F401 (fixtures)
    escalate,
    off_the_loop,
    people,
    wait_until_live,
)
from workflows import execution
from workflows.models import ActionRequest, ActionState

pytestmark = requires_chromium


def states(action_ids: list) -> set[str]:
    return set(
        off_the_loop(
            lambda: list(
                ActionRequest.objects.filter(pk__in=action_ids).values_list("state", flat=True)
            )
        )
    )


def executed(action_ids: list, timeout: float = 30.0) -> set[str]:
    """The actions' states once every one has left the queue (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    found = states(action_ids)
    while found & {ActionState.QUEUED, ActionState.EXECUTING} and time.monotonic() < deadline:
        time.sleep(0.1)
        found = states(action_ids)
    return found


@pytest.fixture
def worker(transactional_db):
    """A real Celery worker on PostgreSQL, started before anything is approved; None on
    SQLite (see the module's docstring)."""
    if connection.vendor != "postgresql":
        yield None
        return
    from autonomy.celery import app
    from tests.workflows.test_execution__workers import Worker

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.control.purge()
    started = Worker("inbox-bulk")
    yield started
    started.stop()
    app.conf.task_always_eager = eager


def test_a_supervisor_filters_the_inbox_and_bulk_approves_three_live(
    people,  # noqa: F811 (fixtures imported above)
    browser,
    asgi_server,
    worker,
    tmp_path,
):
    agent = people["agent"]
    acme = [escalate(agent, {"amount": 5000 + n, "supplier": "ACME"}) for n in range(3)]
    initech = escalate(agent, {"amount": 6000, "supplier": "Initech"})
    problems: list[str] = []
    inbox = sign_in(browser, asgi_server, "sam", problems)
    inbox.goto(f"{asgi_server.url}/workflows/inbox/")
    wait_until_live(inbox)
    assert inbox.inner_text("#nav-inbox-open") == "4"
    assert inbox.inner_text("#inbox-total") == "4 escalations"
    inbox.evaluate("window.notReloaded = true")

    # Search: the list follows without a reload, and the URL says what is shown.
    inbox.fill("#id_q", "acme")
    inbox.wait_for_selector(f"#escalation-{initech.pk}", state="detached")
    assert inbox.inner_text("#inbox-total") == "3 escalations"
    assert "q=acme" in inbox.url

    # Live news under the filter: Initech's new order stays out, ACME's comes in.
    other = escalate(agent, {"amount": 7000, "supplier": "Initech"})
    late = escalate(agent, {"amount": 8000, "supplier": "ACME"})
    inbox.wait_for_selector(f"#escalation-{late.pk}")
    # One socket delivers in order, and the list was rendered after both were committed.
    assert inbox.locator(f"#escalation-{other.pk}").count() == 0
    inbox.wait_for_selector('#nav-inbox-open >> text="6"')

    # The home page, open in another tab, shows the same counts.
    home = inbox.context.new_page()
    home.on("pageerror", lambda exc: problems.append(str(exc)))
    home.goto(f"{asgi_server.url}/")
    wait_until_live(home)
    assert home.inner_text("#home-inbox-open") == "6"
    home.evaluate("window.notReloaded = true")

    # Three selected, one note, one click.
    for escalation in acme:
        inbox.check(f"#select-{escalation.pk}")
    assert inbox.inner_text("#bulk-selected") == "3 selected"
    inbox.fill("#bulk-note", "Framework contract with ACME.")
    inbox.click("#bulk-approve")
    for escalation in acme:
        inbox.wait_for_selector(f'#bulk-result-{escalation.pk}[data-ok="true"]')
        inbox.wait_for_selector(f"#escalation-{escalation.pk}", state="detached")
    assert inbox.locator(f"#escalation-{late.pk}").count() == 1  # not selected: still there
    inbox.wait_for_selector('#nav-inbox-open >> text="3"')
    assert inbox.inner_text("#inbox-total") == "1 escalation"
    assert inbox.evaluate("window.notReloaded") is True
    home.wait_for_selector('#home-inbox-open >> text="3"')
    home.wait_for_selector('#nav-inbox-open >> text="3"')
    assert home.evaluate("window.notReloaded") is True
    inbox.screenshot(path=tmp_path / "inbox-bulk.png", full_page=True)

    action_ids = [escalation.action_id for escalation in acme]
    if worker is None:
        for action_id in action_ids:
            assert off_the_loop(execution.execute, action_id) == "succeeded"
    assert executed(action_ids) == {ActionState.SUCCEEDED}, worker and worker.output()
    approved = off_the_loop(
        lambda: list(
            ActionRequest.objects.filter(pk__in=action_ids).values_list("approved_by", flat=True)
        )
    )
    assert approved == [people["supervisor"].pk] * 3
    assert problems == []
