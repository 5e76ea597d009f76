"""How many escalations wait, and how many are at risk: in the menu of every page and on
the home page for people who work an inbox, from their queues only, and fetched again
(`/workflows/inbox/counts/`) when the live socket tells of escalation news; and the live
inbox under filters: a pushed row the page does not hold makes the page ask the server
for its filtered list again (static/js/live.js), which shows it only if it matches."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client
from django.utils import timezone

from tests.workflows.test_inbox import make_governed, submit
from tests.workflows.test_live import WAIT, headers_for, socket
from workflows import inbox
from workflows.models import Escalation

COUNTS = "/workflows/inbox/counts/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def waiting(world):
    """Two orders waiting in unit A (one due soon: at risk), one in unit B."""
    make_governed()
    soon = submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})
    later = submit(world.agent_a, {"amount": 6000, "supplier": "Initech"})
    foreign = submit(world.agent_b, {"amount": 7000, "supplier": "ACME"})
    now = timezone.now()
    Escalation.objects.update(sla_due_at=now + timedelta(hours=3))
    Escalation.objects.filter(pk=soon.pk).update(sla_due_at=now + timedelta(minutes=5))
    return {"soon": soon, "later": later, "foreign": foreign}


def test_the_counts_are_the_persons_waiting_escalations_and_those_at_risk(world, waiting):
    assert client_for(world.supervisor_a).get(COUNTS).json() == {"open": 2, "at_risk": 1}
    assert client_for(world.supervisor_b).get(COUNTS).json() == {"open": 1, "at_risk": 0}
    assert client_for(world.coe).get(COUNTS).json() == {"open": 3, "at_risk": 1}
    inbox.claim(world.supervisor_a, waiting["later"])  # claimed still waits for a decision
    assert client_for(world.supervisor_a).get(COUNTS).json() == {"open": 2, "at_risk": 1}
    inbox.approve(world.supervisor_a, waiting["soon"])
    assert client_for(world.supervisor_a).get(COUNTS).json() == {"open": 1, "at_risk": 0}
    # Someone who works no inbox has no counts to see.
    assert client_for(world.builder_a).get(COUNTS).status_code == 404


def test_the_menu_shows_the_counts_on_every_page_and_loads_the_live_script(world, waiting):
    html = client_for(world.supervisor_a).get("/agents/").content.decode()
    assert 'data-inbox-counts-url="/workflows/inbox/counts/"' in html
    assert 'id="nav-inbox-open" data-inbox-count="open">2<' in html
    assert '<span data-inbox-count="at_risk">1</span> at risk' in html
    assert 'id="nav-inbox-at-risk" data-hide-zero' in html
    assert "/static/js/live.js" in html
    quiet = client_for(world.supervisor_b).get("/agents/").content.decode()
    assert 'class="badge rounded-pill text-bg-warning d-none" id="nav-inbox-at-risk"' in quiet
    # No inbox, no counts and no socket.
    builder = client_for(world.builder_a).get("/agents/").content.decode()
    assert "data-inbox-count" not in builder and "/static/js/live.js" not in builder


def test_the_home_page_shows_the_counts_with_a_link_to_those_at_risk(world, waiting):
    html = client_for(world.supervisor_a).get("/").content.decode()
    assert 'id="home-inbox-open" data-inbox-count="open">2<' in html
    assert 'id="home-inbox-at-risk" data-inbox-count="at_risk">1<' in html
    assert 'href="/workflows/inbox/?sla=at_risk"' in html
    assert 'id="home-inbox"' not in client_for(world.builder_a).get("/").content.decode()


def test_a_pushed_row_outside_the_filters_in_force_is_not_shown_on_re_render(
    transactional_db, world
):
    make_governed()
    headers = headers_for(world.supervisor_a)
    client = client_for(world.supervisor_a)
    # The page the supervisor has open: only ACME's orders.
    page = client.get("/workflows/inbox/", {"q": "acme"}).content.decode()
    assert 'data-resync-url="/workflows/inbox/?q=acme"' in page

    async def scenario():
        communicator = socket(headers)
        assert (await communicator.connect())[0]
        other = await sync_to_async(submit)(world.agent_a, {"amount": 5000, "supplier": "Initech"})
        acme = await sync_to_async(submit)(world.agent_a, {"amount": 6000, "supplier": "ACME"})
        # The socket brings both (it does not know the page's filters) ...
        heard = set()
        while len(heard) < 2:
            message = await communicator.receive_json_from(timeout=WAIT)
            if message["type"] == "escalation.new":
                heard.add(message["id"])
        assert heard == {str(other.pk), str(acme.pk)}
        await communicator.disconnect()
        return other, acme

    other, acme = async_to_sync(scenario)()
    # ... and the page, holding neither, asks its list again: only the match is in it.
    again = client.get("/workflows/inbox/?q=acme", **HTMX).content.decode()
    assert f'id="escalation-{acme.pk}"' in again
    assert f'id="escalation-{other.pk}"' not in again
    assert client.get(COUNTS).json()["open"] == 2  # the counts are not filtered
