"""Queues: configured by the COE in Django admin through the catalogue's services (SLA and
warning in human units, the escalation chain checked, who works them as guardian grants,
each change in the ledger), and readable over the API within the person's scope."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client

from governance.models import AuditEntry
from tests.factories import SYSTEM, make_user
from workflows import catalog
from workflows.models import Queue
from workflows.queues import may_work

ADD = "/admin/workflows/queue/add/"
API = "/api/v1/queues/"


@pytest.fixture
def coe_client(world) -> Client:
    client = Client()
    client.force_login(world.coe)
    return client


@pytest.fixture
def queues(world):
    """The COE queue, unit A's queue escalating to it, and unit B's queue."""
    top = catalog.create_queue(SYSTEM, slug="coe-approvals", name="COE approvals")
    unit_a = catalog.create_queue(
        SYSTEM, slug="a-approvals", name="A approvals", business_unit=world.unit_a, parent=top
    )
    unit_b = catalog.create_queue(
        SYSTEM, slug="b-approvals", name="B approvals", business_unit=world.unit_b, parent=top
    )
    return top, unit_a, unit_b


def queue_form(**fields) -> dict:
    form = {
        "slug": "a-urgent",
        "name": "A urgent",
        "business_unit": "",
        "parent": "",
        "sla_seconds": "4h",
        "warn_before_seconds": "15m",
        "_save": "Save",
    }
    return {**form, **fields}


def test_the_coe_adds_a_queue_in_admin_with_human_durations_and_workers(world, coe_client, queues):
    top = queues[0]
    approvers = Group.objects.create(name="approvers")
    response = coe_client.post(
        ADD,
        queue_form(
            business_unit=world.unit_a.pk,
            parent=top.pk,
            sla_seconds="1h 30m",
            workers=[world.builder_a.pk],
            worker_groups=[approvers.pk],
        ),
    )
    assert response.status_code == 302, response.content.decode()
    queue = Queue.objects.get(slug="a-urgent")
    assert (queue.sla_seconds, queue.warn_before_seconds, queue.parent) == (5400, 900, top)
    assert may_work(world.builder_a, queue)
    entry = AuditEntry.objects.get(verb="queue.created", object_id=str(queue.pk))
    assert entry.data["changes"]["sla_seconds"] == {"before": None, "after": 5400}
    assert entry.data["workers"] == {"before": [], "after": ["builder-a"]}
    assert entry.data["worker_groups"] == {"before": [], "after": ["approvers"]}
    listing = coe_client.get("/admin/workflows/queue/").content.decode()
    assert "1 h 30 min" in listing and "15 min" in listing
    change = coe_client.get(f"/admin/workflows/queue/{queue.pk}/change/").content.decode()
    assert 'value="1h 30m"' in change


def test_changing_a_queue_records_the_before_and_after_and_the_grants(world, queues):
    _, unit_a, _ = queues
    catalog.update_queue(world.coe, unit_a, sla_seconds=7200, workers=[world.builder_a])
    entry = AuditEntry.objects.filter(verb="queue.updated").get()
    assert entry.data["changes"] == {"sla_seconds": {"before": 14400, "after": 7200}}
    assert entry.data["workers"] == {"before": [], "after": ["builder-a"]}
    catalog.update_queue(world.coe, unit_a, workers=[])
    assert not may_work(world.builder_a, unit_a)
    catalog.update_queue(world.coe, unit_a, sla_seconds=7200)  # nothing changed
    assert AuditEntry.objects.filter(verb="queue.updated").count() == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"sla_seconds": "soon"}, "sla_seconds", "Give a duration"),
        ({"sla_seconds": "10m", "warn_before_seconds": "15m"}, "warn_before_seconds", "before"),
    ],
)
def test_bad_durations_are_form_errors_and_save_nothing(
    world, coe_client, queues, fields, field, message
):
    response = coe_client.post(ADD, queue_form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Queue.objects.filter(slug="a-urgent").exists()


def test_a_chain_that_loops_or_crosses_units_is_refused(world, coe_client, queues):
    top, unit_a, unit_b = queues
    with pytest.raises(ValidationError, match="escalates back"):
        catalog.update_queue(world.coe, top, parent=unit_a)
    response = coe_client.post(
        f"/admin/workflows/queue/{unit_a.pk}/change/",
        queue_form(
            slug=unit_a.slug, name=unit_a.name, business_unit=world.unit_a.pk, parent=unit_b.pk
        ),
    )
    assert response.status_code == 200
    assert "same business unit" in " ".join(response.context["adminform"].form.errors["parent"])
    unit_a.refresh_from_db()
    assert unit_a.parent == top
    assert not AuditEntry.objects.filter(verb="queue.updated").exists()


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [queue["slug"] for queue in response.json()["results"]]


def test_people_read_the_queues_they_work_or_whose_unit_they_belong_to(world, queues, as_user):
    assert slugs(as_user(world.coe).get(API)) == ["a-approvals", "b-approvals", "coe-approvals"]
    assert slugs(as_user(world.supervisor_a).get(API)) == ["a-approvals"]
    assert slugs(as_user(world.builder_a).get(API)) == ["a-approvals"]
    catalog.update_queue(world.coe, queues[0], workers=[world.supervisor_b])
    assert slugs(as_user(world.supervisor_b).get(API)) == ["b-approvals", "coe-approvals"]


def test_a_queue_reads_with_human_durations_its_chain_and_whether_you_work_it(
    world, queues, as_user
):
    body = as_user(world.supervisor_a).get(API + "a-approvals/").json()
    assert body == {
        "slug": "a-approvals",
        "name": "A approvals",
        "business_unit": "unit-a",
        "parent": "coe-approvals",
        "sla_seconds": 14400,
        "sla": "4 h",
        "warn_before_seconds": 900,
        "warn_before": "15 min",
        "you_work_it": True,
    }
    assert as_user(world.builder_a).get(API + "a-approvals/").json()["you_work_it"] is False
    assert as_user(world.coe).get(API + "coe-approvals/").json()["business_unit"] is None


def test_a_queue_outside_scope_is_a_404_and_agents_are_refused(world, queues, as_user, as_agent):
    assert as_user(world.supervisor_b).get(API + "a-approvals/").status_code == 404
    outsider = make_user("outsider")
    assert slugs(as_user(outsider).get(API)) == []
    response = as_agent(world.key_a).get(API)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "people_only"


def test_a_queues_history_pages_render_for_the_coe(world, coe_client, queues):
    _, unit_a, _ = queues
    catalog.update_queue(world.coe, unit_a, sla_seconds=7200)
    base = f"/admin/workflows/queue/{unit_a.pk}"
    assert coe_client.get(f"{base}/history/").status_code == 200
    for history_id in unit_a.history.values_list("history_id", flat=True):
        page = coe_client.get(f"{base}/history/{history_id}/")
        assert page.status_code == 200
