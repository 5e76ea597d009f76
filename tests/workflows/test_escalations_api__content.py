"""What the escalations API says of an escalation: the plain reason, the action's title and
its summary fields (sensitive ones as keyed hashes), the dotted name kept for programs."""

from agents.models import Agent
from governance.redaction import PREFIX
from tests.workflows.test_escalations_api import URL, rows
from tests.workflows.test_inbox import IBAN, make_governed, submit
from workflows.models import ActionType


def test_an_escalation_says_why_plainly_with_the_actions_title_and_summary(world, as_user):
    make_governed()
    ActionType.objects.update(
        title="Create purchase order", summary_fields=["supplier", "amount", "iban"]
    )
    Agent.objects.filter(pk=world.agent_a.pk).update(autonomy_level=1)
    world.agent_a.refresh_from_db()
    escalation = submit(world.agent_a, {"amount": 200, "supplier": "ACME", "iban": IBAN})
    (row,) = rows(as_user(world.supervisor_a).get(URL))
    assert row["id"] == str(escalation.pk)
    assert row["reason"] == "Needs approval: every action of an L1 (supervised) agent"
    assert row["action"]["action"] == "erp.purchase_order.create"
    assert row["action"]["title"] == "Create purchase order"
    summary = row["action"]["summary"]
    assert list(summary) == ["supplier", "amount", "iban"]
    assert summary["supplier"] == "ACME" and summary["amount"] == 200
    assert summary["iban"].startswith(PREFIX)
