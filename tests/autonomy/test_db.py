"""autonomy.db.insert_together: several new rows in one statement, all or nothing."""

import pytest
from django.db import IntegrityError
from django.utils import timezone

from autonomy.db import insert_together
from governance import ledger
from governance.models import AuditEntry, DecisionRecord
from workflows.models import ActionRequest, ActionType


def decision(world) -> DecisionRecord:
    return DecisionRecord(
        created_at=timezone.now(),
        agent_id=world.agent_a.pk,
        action="erp.x.create",
        business_unit_id=world.agent_a.business_unit_id,
        autonomy_level=1,
        effect="allow",
    )


def action(world, action_type, record, key="k-1") -> ActionRequest:
    return ActionRequest(
        agent=world.agent_a,
        business_unit_id=world.agent_a.business_unit_id,
        action_type=action_type,
        idempotency_key=key,
        request_hash="h",
        payload_hash="p",
        decision=record,
        state="queued",
        created_at=timezone.now(),
    )


@pytest.fixture
def action_type(db):
    return ActionType.objects.create(name="erp.x.create")


def test_rows_that_refer_to_each_other_go_in_together(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    entry = ledger.entry("test.inserted", ledger.Actor.system(), row, data={"n": 1})
    insert_together(record, row, entry)
    assert entry.pk is not None  # the database's id is handed back
    assert AuditEntry.objects.get(pk=entry.pk).data == {"n": 1}
    assert ActionRequest.objects.get(pk=row.pk).decision_id == record.pk
    assert not row._state.adding


def test_a_refused_row_leaves_none_of_them_and_the_transaction_usable(world, action_type):
    first = decision(world)
    insert_together(first, action(world, action_type, first))
    before = (DecisionRecord.objects.count(), AuditEntry.objects.count())
    second = decision(world)
    duplicate = action(world, action_type, second)  # the same idempotency key
    entry = ledger.entry("test.inserted", ledger.Actor.system(), duplicate)
    with pytest.raises(IntegrityError):
        insert_together(second, duplicate, entry)
    assert (DecisionRecord.objects.count(), AuditEntry.objects.count()) == before


def test_every_key_the_database_assigns_is_handed_back(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    first = ledger.entry("test.first", ledger.Actor.system(), row)
    second = ledger.entry("test.second", ledger.Actor.system(), row)
    insert_together(first, record, row, second)
    assert AuditEntry.objects.get(pk=first.pk).verb == "test.first"
    assert AuditEntry.objects.get(pk=second.pk).verb == "test.second"
