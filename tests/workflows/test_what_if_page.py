"""The what-if page (/workflows/what-if/): offered to those who may use it, and a payload
that could not be stored and shown again is a form error that records nothing."""

import pytest
from django.test import Client

from governance import policies
from governance.models import DecisionRecord, Policy
from tests.workflows.test_decisions import PO, published  # noqa: F401 (a fixture)

URL = "/workflows/what-if/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("persona", "offered"),
    [("coe", True), ("builder_a", True), ("supervisor_a", False), ("auditor", False)],
)
def test_the_what_if_link_is_offered_to_coe_staff_and_builders(world, persona, offered):
    home = client_for(getattr(world, persona)).get("/").content.decode()
    assert ('id="nav-what-if"' in home) is offered


def test_a_payload_that_could_not_be_shown_again_is_a_form_error(world, published):  # noqa: F811
    before = DecisionRecord.objects.count()
    response = client_for(world.builder_a).post(
        URL, {"agent": "agent-a", "action": PO, "payload": '{"amount": 5, "note": "\\udfff"}'}
    )
    assert response.status_code == 400
    assert "surrogate" in " ".join(response.context["form"].errors["payload"])
    assert DecisionRecord.objects.count() == before
    allowed = client_for(world.builder_a).post(
        URL, {"agent": "agent-a", "action": PO, "payload": '{"amount": 5}'}
    )
    assert allowed.status_code == 200
    assert DecisionRecord.objects.count() == before + 1


def test_coe_staff_choose_a_draft_to_decide_against_and_builders_do_not(world, published):  # noqa: F811
    policy = Policy.objects.get(versions__state="published")
    draft = policies.create_draft(world.coe, policy)
    policies.add_rule(
        world.coe, draft, name="no POs", action_pattern="erp.purchase_order.*", effect="deny"
    )
    assert "Draft: " not in client_for(world.builder_a).get(URL).content.decode()
    coe = client_for(world.coe)
    page = coe.get(URL).content.decode()
    assert f'<option value="{draft.pk}">Draft: {policy.name} v{draft.number}</option>' in page
    question = {"agent": "agent-a", "action": PO, "payload": '{"amount": 5}'}
    as_published = coe.post(URL, question)
    assert as_published.context["record"].effect == "allow"
    as_drafted = coe.post(URL, {**question, "version": draft.pk})
    assert as_drafted.status_code == 200
    assert as_drafted.context["record"].effect == "deny"
    assert as_drafted.context["record"].source == DecisionRecord.Source.WHAT_IF
    assert 'id="what-if-against"' in as_drafted.content.decode()
    sneaky = client_for(world.builder_a).post(URL, {**question, "version": draft.pk})
    assert sneaky.context["record"].effect == "allow"  # the field does not exist for them


@pytest.mark.parametrize("persona", ["supervisor_a", "auditor"])
def test_people_who_may_not_try_actions_get_404_and_record_nothing(
    world,
    published,  # noqa: F811
    persona,
):
    client = client_for(getattr(world, persona))
    before = DecisionRecord.objects.count()
    assert client.get(URL).status_code == 404
    posted = client.post(URL, {"agent": "agent-a", "action": PO, "payload": '{"amount": 5}'})
    assert posted.status_code == 404
    assert DecisionRecord.objects.count() == before
