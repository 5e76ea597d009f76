"""An action type's title and summary fields: checked against its payload schema, set in
the admin through the catalogue (recorded in the ledger)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from governance.models import AuditEntry
from tests.workflows.test_connectors__admin import action_type_form
from workflows import catalog
from workflows.models import ActionType

SCHEMA = {"type": "object", "properties": {"supplier": {}, "amount": {}, "currency": {}}}


def test_summary_fields_must_be_fields_of_the_payload_schema(world):
    with pytest.raises(ValidationError) as error:
        catalog.create_action_type(
            world.coe, name="erp.po.create", payload_schema=SCHEMA, summary_fields=["supplier", "x"]
        )
    assert error.value.message_dict["summary_fields"] == ["Not a field of the payload schema: x."]
    with pytest.raises(ValidationError) as error:
        catalog.create_action_type(world.coe, name="erp.po.create", summary_fields="amount")
    assert error.value.message_dict["summary_fields"] == ["Give a list of payload field names."]
    assert not ActionType.objects.exists()
    assert not AuditEntry.objects.filter(verb__startswith="action_type.").exists()


def test_a_title_and_summary_fields_changed_in_the_admin_are_recorded(world):
    client = Client()
    client.force_login(world.coe)
    form = action_type_form(payload_schema=json.dumps(SCHEMA))
    assert client.post("/admin/workflows/actiontype/add/", form).status_code == 302
    action_type = ActionType.objects.get()
    assert (action_type.title, action_type.summary_fields, action_type.label) == (
        "",
        [],
        "crm.opportunity.update",
    )
    changed = {**form, "title": "Update opportunity", "summary_fields": '["supplier", "amount"]'}
    response = client.post(f"/admin/workflows/actiontype/{action_type.pk}/change/", changed)
    assert response.status_code == 302
    action_type.refresh_from_db()
    assert action_type.label == "Update opportunity"
    entry = AuditEntry.objects.get(verb="action_type.updated")
    assert entry.data["changes"] == {
        "title": {"before": "", "after": "Update opportunity"},
        "summary_fields": {"before": [], "after": ["supplier", "amount"]},
    }
    bad = {**form, "summary_fields": '["nope"]'}
    response = client.post(f"/admin/workflows/actiontype/{action_type.pk}/change/", bad)
    assert response.status_code == 200
    assert "Not a field of the payload schema: nope." in response.content.decode()
