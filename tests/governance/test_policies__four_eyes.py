"""Four eyes on publishing (AUTONOMY_POLICY_FOUR_EYES): one COE member requests publication,
a different one approves it by publishing; the requester cannot approve their own request,
an approval covers exactly the rules requested, and both steps are on the ledger. The same
in the services, the API and the admin."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from governance import policies
from governance import services as governance_services
from governance.models import AuditEntry, PolicyVersion
from tests.factories import SYSTEM, make_user

State = PolicyVersion.State


@pytest.fixture(autouse=True)
def four_eyes(settings):
    settings.AUTONOMY_POLICY_FOUR_EYES = True


@pytest.fixture
def second_coe(world):
    user = make_user("coe-2", is_staff=True)
    governance_services.make_coe(SYSTEM, user)
    return user


def draft_with_rule() -> PolicyVersion:
    policy = policies.create_policy(SYSTEM, "coe-po", "Coe-Po")
    draft = policy.versions.get()
    policies.add_rule(SYSTEM, draft, name="po", action_pattern="erp.*", effect="allow")
    return draft


def state_of(version) -> str:
    version.refresh_from_db()
    return version.state


def test_a_person_cannot_publish_without_a_request(world):
    draft = draft_with_rule()
    with pytest.raises(policies.InvalidState, match="request publication first"):
        policies.publish(world.coe, draft)
    assert state_of(draft) == State.DRAFT


def test_the_same_person_cannot_approve_their_own_publish(world):
    draft = draft_with_rule()
    policies.request_publication(world.coe, draft)
    with pytest.raises(policies.NotAllowed, match="another COE member must approve"):
        policies.publish(world.coe, draft)
    assert state_of(draft) == State.DRAFT


def test_another_coe_member_approves_and_both_are_on_the_ledger(world, second_coe):
    draft = draft_with_rule()
    policies.request_publication(world.coe, draft)
    policies.publish(second_coe, draft)
    assert state_of(draft) == State.PUBLISHED
    requested, published = AuditEntry.objects.filter(
        verb__in=["policy.publish_requested", "policy.published"]
    ).order_by("id")
    assert (requested.verb, requested.actor_name) == ("policy.publish_requested", "coe")
    assert (
        published.actor_name,
        published.data["requested_by"],
        published.data["approved_by"],
    ) == (
        "coe-2",
        "coe",
        "coe-2",
    )


def test_a_draft_changed_after_the_request_must_be_requested_again(world, second_coe):
    draft = draft_with_rule()
    policies.request_publication(world.coe, draft)
    policies.add_rule(world.coe, draft, name="late", action_pattern="crm.*", effect="deny")
    with pytest.raises(policies.InvalidState, match="changed after publication was requested"):
        policies.publish(second_coe, draft)
    assert state_of(draft) == State.DRAFT


def test_system_actors_publish_without_four_eyes(world):
    draft = draft_with_rule()
    policies.publish(SYSTEM, draft)
    assert state_of(draft) == State.PUBLISHED


def test_four_eyes_over_the_api(world, second_coe, as_user):
    draft = draft_with_rule()
    base = f"/api/v1/policy-versions/{draft.pk}"
    first, second = as_user(world.coe), as_user(second_coe)
    assert first.post(f"{base}/publish/").status_code == 409
    response = first.post(f"{base}/request-publication/")
    assert response.status_code == 200
    assert response.json()["publish_requested_by"] == "coe"
    own = first.post(f"{base}/publish/")
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "permission_denied"
    assert "another COE member must approve" in own.json()["error"]["message"]
    assert state_of(draft) == State.DRAFT
    approved = second.post(f"{base}/publish/")
    assert approved.status_code == 200
    assert approved.json()["state"] == State.PUBLISHED


def test_four_eyes_in_the_admin(client, world, second_coe):
    draft = draft_with_rule()
    url = reverse("admin:governance_policyversion_publish", args=[draft.pk])
    client.force_login(world.coe)
    page = client.get(url).content.decode()
    assert "Request publication" in page and "Yes, publish" not in page
    client.post(url, {"post": "yes", "step": "request"})
    page = client.get(url).content.decode()
    assert "another COE member must approve it" in page and "Approve and publish" not in page
    response = client.post(url, {"post": "yes", "step": "publish"})  # forged: refused
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("another COE member must approve it" in m for m in messages)
    assert state_of(draft) == State.DRAFT
    client.force_login(second_coe)
    page = client.get(url).content.decode()
    assert "coe requested publication" in page and "Approve and publish" in page
    client.post(url, {"post": "yes", "step": "publish"})
    assert state_of(draft) == State.PUBLISHED
