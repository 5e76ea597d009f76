"""Handing an escalation to a person: who may be chosen (only people who may decide it),
the refusals, the page's form, the "Assigned to me" inbox and the live arrival."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from tests.factories import SYSTEM, make_user
from tests.workflows.test_inbox import fresh, make_governed, submit, verbs
from tests.workflows.test_inbox__pages import HTMX, client_for, detail
from tests.workflows.test_live import WAIT, headers_for, socket
from workflows import inbox
from workflows.models import Escalation, Queue
from workflows.queues import coe_queue


def supervisor_of(unit, username: str):
    person = make_user(username)
    governance_services.add_membership(SYSTEM, person, unit, MemberRole.SUPERVISOR)
    return person


@pytest.fixture
def governed(world):
    return make_governed()


@pytest.fixture
def escalation(world, governed) -> Escalation:
    return submit(world.agent_a, {"amount": 5000})


@pytest.fixture
def colleague(world):
    return supervisor_of(world.unit_a, "colleague")


def usernames(people) -> list[str]:
    return [person.get_username() for person in people]


# Who may be chosen


def test_the_choices_are_the_people_who_may_decide_it(world, escalation, colleague):
    assert usernames(inbox.assignable_people(escalation)) == ["coe", "colleague", "supervisor-a"]


def test_the_agents_owner_is_never_a_choice_even_as_a_supervisor(world, escalation):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    assert "builder-a" not in usernames(inbox.assignable_people(escalation))


def test_a_queue_grant_counts_for_members_of_the_unit_only(world, governed):
    desk = Queue.objects.create(slug="desk-a", name="Desk A", business_unit=world.unit_a)
    waiting = submit(world.agent_a, {"amount": 5000})
    moved = inbox.reassign(world.supervisor_a, waiting, queue=desk)
    approvers = Group.objects.create(name="desk-a-approvers")
    world.auditor.groups.add(approvers)  # a member of unit A
    world.supervisor_b.groups.add(approvers)  # not a member of unit A
    assign_perm("workflows.work_queue", approvers, desk)
    assert usernames(inbox.assignable_people(moved)) == ["auditor", "coe", "supervisor-a"]


def test_in_a_coe_queue_only_coe_staff_and_grant_holders_of_the_unit_are_choices(world, escalation):
    moved = inbox.reassign(world.supervisor_a, escalation, queue=coe_queue())
    assign_perm("workflows.work_queue", world.supervisor_b, coe_queue())  # unit B
    assign_perm("workflows.work_queue", world.auditor, coe_queue())  # unit A
    # Unit A's supervisors do not work the COE queue; unit B's grant holder is an outsider.
    assert usernames(inbox.assignable_people(moved)) == ["auditor", "coe"]


def test_inactive_people_and_the_current_assignee_are_not_choices(world, escalation, colleague):
    retired = supervisor_of(world.unit_a, "retired")
    retired.is_active = False
    retired.save()
    handed = inbox.reassign(world.supervisor_a, escalation, person=colleague)
    assert usernames(inbox.assignable_people(handed)) == ["coe", "supervisor-a"]


# The service's refusals


def test_handing_it_to_someone_who_may_not_decide_it_is_refused_and_changes_nothing(
    world, escalation, colleague
):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    retired = supervisor_of(world.unit_a, "retired")
    retired.is_active = False
    retired.save()
    before = AuditEntry.objects.count()
    refusals = {
        world.builder_a: "owns agent agent-a",
        world.supervisor_b: "may not decide escalations of the queue",
        world.auditor: "may not decide escalations of the queue",
        retired: "may not decide escalations of the queue",
    }
    for person, message in refusals.items():
        with pytest.raises(inbox.InboxError, match=message) as refused:
            inbox.reassign(world.supervisor_a, escalation, person=person)
        assert "person" in refused.value.fields
    assert fresh(escalation).state == "open"
    assert AuditEntry.objects.count() == before
    handed = inbox.reassign(world.supervisor_a, escalation, person=colleague)
    with pytest.raises(inbox.InboxError, match="already assigned to colleague"):
        inbox.reassign(colleague, handed, person=colleague)


def test_a_coe_queue_grant_in_another_unit_is_not_enough(world, escalation):
    moved = inbox.reassign(world.supervisor_a, escalation, queue=coe_queue())
    assign_perm("workflows.work_queue", world.supervisor_b, coe_queue())
    with pytest.raises(inbox.InboxError, match="supervisor-b may not decide") as refused:
        inbox.reassign(world.coe, moved, person=world.supervisor_b)
    assert "person" in refused.value.fields
    assert fresh(moved).state == "open"


def test_the_assignee_alone_decides_it_and_it_is_recorded(world, escalation, colleague):
    handed = inbox.reassign(world.supervisor_a, escalation, person=colleague, note="Yours.")
    assert handed.assigned_to == colleague
    assert handed.queue_id == escalation.queue_id
    entry = AuditEntry.objects.filter(verb="escalation.reassigned").get()
    assert entry.data["to_person"] == "colleague"
    assert entry.data["note"] == "Yours."
    assert verbs(handed) == ["escalation.opened"]
    for person in (world.supervisor_a, world.coe):
        with pytest.raises(inbox.NotAllowed, match="assigned to colleague"):
            inbox.approve(person, handed)
    inbox.approve(colleague, handed)
    assert fresh(handed).state == "approved"


# Pages


def test_the_form_offers_the_people_who_may_decide_it(world, escalation, colleague):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    client = client_for(world.supervisor_a)
    page = client.get(detail(escalation))
    form = page.context["reassign_form"]
    assert usernames(form.fields["person"].queryset) == ["coe", "colleague", "supervisor-a"]
    html = page.content.decode()
    assert 'name="person"' in html
    assert '<option value="colleague">colleague</option>' in html
    assert 'value="builder-a"' not in html


def test_assigning_from_the_page_follows_it_to_the_new_escalation(world, escalation, colleague):
    client = client_for(world.supervisor_a)
    response = client.post(
        detail(escalation) + "reassign/", {"person": "colleague", "note": "You know them."}
    )
    assert response.status_code == 302
    successor = Escalation.objects.get(previous=escalation)
    assert response["Location"] == detail(successor)
    assert successor.assigned_to == colleague
    assert fresh(escalation).state == "reassigned"
    page = client.get(response["Location"]).content.decode()
    assert "Assigned to colleague: only they decide it now." in page
    assert "for colleague" in page  # the row names the assignee


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a queue or a person to reassign to."),
        (
            {"queue": "coe-approvals", "person": "colleague"},
            "Choose a queue or a person, not both.",
        ),
        ({"person": "supervisor-b"}, "Choose someone who may decide this escalation."),
        ({"person": "builder-a"}, "Choose someone who may decide this escalation."),
        ({"person": "nobody"}, "Choose someone who may decide this escalation."),
        ({"queue": "no-such-queue"}, "Choose another queue of the unit, or a COE queue."),
    ],
)
def test_a_bad_choice_is_a_form_error_and_changes_nothing(
    world, escalation, colleague, data, message
):
    coe_queue()
    before = AuditEntry.objects.count()
    response = client_for(world.supervisor_a).post(detail(escalation) + "reassign/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert fresh(escalation).state == "open"
    assert AuditEntry.objects.count() == before


def test_htmx_assigning_returns_the_panel_and_form_errors_too(world, escalation, colleague):
    client = client_for(world.supervisor_a)
    wrong = client.post(detail(escalation) + "reassign/", {"person": "supervisor-b"}, **HTMX)
    assert wrong.status_code == 200
    assert wrong.content.decode().lstrip().startswith('<div id="decision-panel"')
    assert "Choose someone who may decide this escalation." in wrong.content.decode()
    done = client.post(detail(escalation) + "reassign/", {"person": "colleague"}, **HTMX)
    html = done.content.decode()
    assert done.status_code == 200
    assert html.lstrip().startswith('<div id="decision-panel"')
    assert "Assigned to colleague" in html
    assert 'id="decision-outcome"' in html  # this one is reassigned; it continues elsewhere


def test_the_assignee_finds_it_under_assigned_to_me(world, escalation, colleague):
    other = submit(world.agent_a, {"amount": 6000})
    inbox.reassign(world.supervisor_a, escalation, person=colleague)
    handed = Escalation.objects.get(previous=escalation)
    mine = client_for(colleague).get("/workflows/inbox/?assigned=me")
    html = mine.content.decode()
    assert mine.status_code == 200
    assert f'id="escalation-{handed.pk}"' in html
    assert f'id="escalation-{other.pk}"' not in html
    assert f'id="assigned-count" data-live-assignee="{colleague.pk}">1<' in html
    everything = client_for(colleague).get("/workflows/inbox/").content.decode()
    assert f'id="escalation-{handed.pk}"' in everything
    assert f'id="escalation-{other.pk}"' in everything
    theirs = client_for(world.supervisor_a).get("/workflows/inbox/?assigned=me").content.decode()
    assert "Nothing is assigned to you." in theirs
    assert f'data-live-assignee="{world.supervisor_a.pk}">0<' in theirs


def test_the_filtered_list_resyncs_with_its_filter_and_brings_the_count_along(world, escalation):
    client = client_for(world.supervisor_a)
    rows = client.get("/workflows/inbox/?assigned=me", **HTMX).content.decode()
    assert rows.lstrip().startswith('<div id="inbox-list"')
    # static/js/live.js asks this URL again on news of a row the page does not hold.
    assert 'data-resync-url="/workflows/inbox/?assigned=me"' in rows
    assert 'data-assigned-count="0"' in rows  # a re-sync brings the count along
    assert f'id="escalation-{escalation.pk}"' not in rows
    everything = client.get("/workflows/inbox/", **HTMX).content.decode()
    assert 'data-live-rows="escalation"' in everything
    assert 'data-resync-url="/workflows/inbox/"' in everything
    assert f'id="escalation-{escalation.pk}"' in everything
    page = client.get("/workflows/inbox/").content.decode()
    assert f'id="assigned-count" data-live-assignee="{world.supervisor_a.pk}">0<' in page


def test_the_assignee_hears_of_it_live(transactional_db, world):
    make_governed()
    colleague = supervisor_of(world.unit_a, "colleague")
    escalation = submit(world.agent_a, {"amount": 5000})
    headers = headers_for(colleague)

    async def scenario():
        communicator = socket(headers)
        ok, _ = await communicator.connect()
        assert ok
        handed = await sync_to_async(
            lambda: inbox.reassign(world.supervisor_a, escalation, person=colleague)
        )()
        received = [await communicator.receive_json_from(timeout=WAIT) for _ in range(2)]
        kinds = {message["type"]: message for message in received}
        assert set(kinds) == {"escalation.new", "escalation.decided"}
        assert kinds["escalation.new"]["id"] == str(handed.pk)
        assert "for colleague" in kinds["escalation.new"]["html"]
        assert kinds["escalation.decided"]["id"] == str(escalation.pk)
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_each_pushed_row_names_its_assignee_for_the_assigned_to_me_list(transactional_db, world):
    make_governed()
    colleague = supervisor_of(world.unit_a, "colleague")
    escalation = submit(world.agent_a, {"amount": 5000})
    listeners = (colleague, world.supervisor_a, world.supervisor_b)
    headers = [headers_for(person) for person in listeners]
    assignee = f'data-assigned-to="{colleague.pk}"'

    async def scenario():
        sockets = [socket(each) for each in headers]
        for communicator in sockets:
            ok, _ = await communicator.connect()
            assert ok
        hearing, bystander, outsider = sockets
        handed = await sync_to_async(
            lambda: inbox.reassign(world.supervisor_a, escalation, person=colleague)
        )()
        # The assignee and the unit's other supervisor hear the same rows; only the row
        # says whose it is, which is what the assignee's "Assigned to me" list takes.
        for communicator in (hearing, bystander):
            received = [await communicator.receive_json_from(timeout=WAIT) for _ in range(2)]
            kinds = {message["type"]: message["html"] for message in received}
            assert assignee in kinds["escalation.new"]
            assert 'data-state="open"' in kinds["escalation.new"]
            assert "data-assigned-to" not in kinds["escalation.decided"]  # the old one
        assert await outsider.receive_nothing(timeout=0.5)

        # It leaves the assignment: the agent is suspended and the escalation cancelled.
        await sync_to_async(
            lambda: inbox.suspend_agent(world.coe, world.agent_a, "Paused for review.")
        )()
        decided = await hearing.receive_json_from(timeout=WAIT)
        while decided["type"] != "escalation.decided":  # the activity feed hears of it too
            decided = await hearing.receive_json_from(timeout=WAIT)
        assert decided["id"] == str(handed.pk)
        assert assignee in decided["html"] and 'data-state="cancelled"' in decided["html"]
        for communicator in sockets:
            await communicator.disconnect()

    async_to_sync(scenario)()
    rows = client_for(colleague).get("/workflows/inbox/?assigned=me", **HTMX).content.decode()
    assert 'data-assigned-count="0"' in rows and "Nothing is assigned to you." in rows
