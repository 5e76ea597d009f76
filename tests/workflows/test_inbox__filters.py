"""The inbox at volume: one FilterSet (workflows.filtersets.EscalationFilterSet) filters,
searches, sorts and pages the inbox page and `GET /api/v1/escalations/` alike, inside the
person's queues, and offers as choices only what the person may see."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance import services as governance_services
from governance.models import MemberRole
from tests.factories import SYSTEM, make_agent, make_user
from tests.workflows.test_inbox import IBAN, make_governed, submit
from workflows import inbox
from workflows.models import Escalation
from workflows.views_inbox import PAGE_SIZE

API = "/api/v1/escalations/"
PAGE = "/workflows/inbox/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def escalations(world):
    """Unit A: agent A's orders (ACME, Initech with a hidden IBAN, a claimed one) and a
    second agent's; unit B: one order of agent B (the same supplier)."""
    make_governed()
    colleague = make_user("builder-a2")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.BUILDER)
    second = make_agent(colleague, world.unit_a, world.role, "agent-a2", approver=world.coe)
    made = {
        "acme": submit(world.agent_a, {"amount": 5000, "supplier": "ACME"}),
        "initech": submit(world.agent_a, {"amount": 6000, "supplier": "Initech", "iban": IBAN}),
        "claimed": submit(world.agent_a, {"amount": 7000, "supplier": "Globex"}),
        "second": submit(second, {"amount": 8000, "supplier": "Umbrella"}),
        "foreign": submit(world.agent_b, {"amount": 9000, "supplier": "ACME"}),
    }
    inbox.claim(world.supervisor_a, made["claimed"])
    return made


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_ids(as_user, user, **params) -> list[str]:
    response = as_user(user).get(API, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def page_ids(user, **params) -> set[str]:
    html = client_for(user).get(PAGE, params, **HTMX).content.decode()
    return {
        str(escalation.pk)
        for escalation in Escalation.objects.all()
        if f'id="escalation-{escalation.pk}"' in html
    }


def ids(escalations, *names) -> set[str]:
    return {str(escalations[name].pk) for name in names}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ("acme", "initech", "claimed", "second")),
        ({"q": "acme"}, ("acme",)),
        ({"q": "UMBRELLA"}, ("second",)),
        ({"q": "agent-a2"}, ("second",)),
        ({"q": "purchase_order"}, ("acme", "initech", "claimed", "second")),
        ({"agent": "agent-a2"}, ("second",)),
        ({"action_type": "erp.purchase_order.create"}, ("acme", "initech", "claimed", "second")),
        ({"state": "claimed"}, ("claimed",)),
        ({"state": "open"}, ("acme", "initech", "second")),
        ({"priority": "1"}, ("acme", "initech", "claimed", "second")),
        ({"priority": "3"}, ()),
    ],
)
def test_the_page_and_the_api_filter_alike_inside_the_persons_queues(
    world, escalations, as_user, params, expected
):
    assert set(api_ids(as_user, world.supervisor_a, **params)) == ids(escalations, *expected)
    assert page_ids(world.supervisor_a, **params) == ids(escalations, *expected)
    # Unit B's order matches several of these filters; it never shows in unit A.
    assert str(escalations["foreign"].pk) not in api_ids(as_user, world.supervisor_a, **params)


def test_a_search_never_looks_into_a_hidden_field(world, escalations, as_user):
    # The IBAN is shown as a hash: searching for it must not tell which order holds it.
    assert api_ids(as_user, world.supervisor_a, q=IBAN) == []
    assert api_ids(as_user, world.supervisor_a, q=IBAN[:8]) == []
    assert page_ids(world.supervisor_a, q=IBAN) == set()
    # The rest of the same payload is searched.
    assert set(api_ids(as_user, world.supervisor_a, q="initech")) == ids(escalations, "initech")


def test_assigned_to_me_lists_what_was_handed_to_the_person(world, escalations, as_user):
    inbox.reassign(world.supervisor_a, escalations["acme"], person=world.coe)
    handed = Escalation.objects.get(previous=escalations["acme"])
    assert api_ids(as_user, world.coe, assigned="me") == [str(handed.pk)]
    assert page_ids(world.coe, assigned="me") == {str(handed.pk)}
    assert api_ids(as_user, world.supervisor_a, assigned="me") == []


def test_the_sla_filters_find_the_waiting_rows_at_risk_and_overdue(world, escalations, as_user):
    now = timezone.now()
    warn = escalations["acme"].queue.warn_before_seconds
    Escalation.objects.update(sla_due_at=now + timedelta(hours=3))  # none at risk
    Escalation.objects.filter(pk=escalations["acme"].pk).update(
        sla_due_at=now + timedelta(seconds=warn / 2)
    )
    Escalation.objects.filter(pk=escalations["initech"].pk).update(
        sla_due_at=now + timedelta(hours=3), warned_at=now
    )
    Escalation.objects.filter(pk=escalations["claimed"].pk).update(
        sla_due_at=now - timedelta(minutes=1)
    )
    at_risk = ids(escalations, "acme", "initech")
    assert set(api_ids(as_user, world.supervisor_a, sla="at_risk")) == at_risk
    assert page_ids(world.supervisor_a, sla="at_risk") == at_risk
    assert set(api_ids(as_user, world.supervisor_a, sla="overdue")) == ids(escalations, "claimed")
    # A decided one is neither, however late.
    inbox.reject(world.supervisor_a, escalations["acme"], "No.")
    assert set(api_ids(as_user, world.supervisor_a, sla="at_risk")) == ids(escalations, "initech")


def test_sorting_by_urgency_or_age(world, escalations, as_user):
    now = timezone.now()
    order = ["second", "claimed", "acme", "initech"]  # oldest first
    for minutes, name in enumerate(order):
        Escalation.objects.filter(pk=escalations[name].pk).update(
            created_at=now - timedelta(minutes=10 - minutes),
            sla_due_at=now + timedelta(hours=1 + minutes),
        )
    Escalation.objects.filter(pk=escalations["initech"].pk).update(
        sla_due_at=now + timedelta(minutes=30)
    )
    oldest = [str(escalations[name].pk) for name in order]
    assert api_ids(as_user, world.supervisor_a, sort="oldest") == oldest
    assert api_ids(as_user, world.supervisor_a, sort="newest") == oldest[::-1]
    urgent = api_ids(as_user, world.supervisor_a)
    assert urgent[0] == str(escalations["initech"].pk)  # all P1: due first
    assert api_ids(as_user, world.supervisor_a, sort="urgency") == urgent


def test_the_api_pages_with_a_count_and_the_page_shows_the_total(world, as_user):
    make_governed()
    for amount in range(2000, 2000 + PAGE_SIZE + 5):
        submit(world.agent_a, {"amount": amount})
    first = as_user(world.supervisor_a).get(API, {"limit": 10})
    body = first.json()
    assert body["count"] == PAGE_SIZE + 5 and len(body["results"]) == 10
    assert body["next"] and "offset=10" in body["next"]
    client = client_for(world.supervisor_a)
    html = client.get(PAGE).content.decode()
    assert f"{PAGE_SIZE + 5} escalations · page 1 of 2" in html
    assert html.count('class="escalation-row') == PAGE_SIZE
    second = client.get(PAGE, {"page": 2}, **HTMX).content.decode()
    assert second.count('class="escalation-row') == 5
    assert 'data-resync-url="/workflows/inbox/?page=2"' in second


def test_the_choices_offer_only_what_the_person_may_see(world, escalations):
    html = client_for(world.supervisor_a).get(PAGE).content.decode()
    assert 'value="agent-a"' in html and 'value="agent-a2"' in html
    assert 'value="agent-b"' not in html
    assert escalations["foreign"].queue.slug not in html
    coe = client_for(world.coe).get(PAGE).content.decode()
    assert 'value="agent-b"' in coe and escalations["foreign"].queue.slug in coe


def test_a_choice_outside_the_persons_scope_is_refused_not_revealed(world, escalations, as_user):
    foreign_queue = escalations["foreign"].queue.slug
    for params in ({"agent": "agent-b"}, {"queue": foreign_queue}, {"state": "lost"}):
        refused = as_user(world.supervisor_a).get(API, params)
        assert refused.status_code == 400
        assert set(refused.json()["error"]["fields"]) == set(params)
    # The page says which filters it ignored and shows nothing of unit B.
    page = client_for(world.supervisor_a).get(PAGE, {"agent": "agent-b"}).content.decode()
    assert "Some filters were ignored" in page
    assert str(escalations["foreign"].pk) not in page


def test_the_filter_form_pushes_its_url_and_updates_the_list_only(world, escalations):
    page = client_for(world.supervisor_a).get(PAGE, {"q": "acme"}).content.decode()
    assert 'hx-target="#inbox-list"' in page and 'hx-push-url="true"' in page
    assert 'value="acme"' in page  # the search box keeps what the URL says
    assert 'data-resync-url="/workflows/inbox/?q=acme"' in page
