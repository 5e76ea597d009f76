"""An agent's page lists its recent actions, newest first, ten a page, each linked."""

from datetime import timedelta

from django.utils import timezone

from tests.workflows.factories import make_action, make_action_type
from workflows.models import ActionState


def detail(agent) -> str:
    return f"/agents/{agent.slug}/"


def test_an_agents_page_lists_its_actions_newest_first_with_links(client, world):
    po = make_action_type("erp.purchase_order.create")
    now = timezone.now()
    older = make_action(world.agent_a, po, state=ActionState.DENIED, created_at=now - timedelta(1))
    newer = make_action(world.agent_a, po, created_at=now)
    make_action(world.agent_b, po, created_at=now)
    client.force_login(world.supervisor_a)
    response = client.get(detail(world.agent_a))
    assert response.status_code == 200
    assert list(response.context["actions"]) == [newer, older]
    html = response.content.decode()
    assert f'href="/workflows/actions/{newer.pk}/"' in html
    assert html.index(str(newer.pk)) < html.index(str(older.pk))


def test_the_actions_are_paged_and_htmx_fetches_only_the_card(client, world):
    po = make_action_type("erp.purchase_order.create")
    now = timezone.now()
    made = [
        make_action(world.agent_a, po, created_at=now - timedelta(minutes=i)) for i in range(12)
    ]
    client.force_login(world.builder_a)
    first = client.get(detail(world.agent_a))
    assert len(first.context["actions"]) == 10
    assert "page 1 of 2" in first.content.decode()
    second = client.get(
        detail(world.agent_a),
        {"actions_page": 2},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="agent-actions",
    )
    html = second.content.decode().strip()
    assert html.startswith('<section class="card" id="agent-actions">')
    assert [action.pk for action in second.context["actions"]] == [m.pk for m in made[10:]]


def test_an_agent_without_actions_says_so(client, world):
    client.force_login(world.coe)
    assert "No action yet." in client.get(detail(world.agent_b)).content.decode()
