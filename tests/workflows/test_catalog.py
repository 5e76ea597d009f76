"""The catalogue's services: each creation or change of a connector or action type is
checked, saved and recorded in one ledger entry (before and after, secrets by name only);
bad input changes nothing and records nothing."""

import json

import pytest
from django.core.exceptions import ValidationError

from governance.ledger import Actor
from governance.models import AuditEntry
from tests.factories import make_user
from tests.workflows.factories import API_TOKEN, WEBHOOK_SECRET, make_action_type, make_connector
from workflows import catalog
from workflows.models import ActionType, Connector, Queue

HTTP_CONFIG = {"url": "https://erp.example.com/orders", "timeout_seconds": 5}
SECRETS = {"headers": {"Authorization": API_TOKEN}}


@pytest.fixture
def coe(db):
    return make_user("coe-editor", is_staff=True)


def only_entry(**filters) -> AuditEntry:
    """The one ledger entry there is (asserting there is exactly one)."""
    entries = list(AuditEntry.objects.filter(**filters))
    assert len(entries) == 1, [entry.verb for entry in entries]
    return entries[0]


# Connectors


def test_a_created_connector_is_recorded_with_its_secrets_by_name_only(coe):
    connector = catalog.create_connector(
        coe, slug="erp", name="ERP", kind="http", config=HTTP_CONFIG, secrets=SECRETS, via="admin"
    )

    assert Connector.objects.get().secrets == SECRETS
    entry = only_entry()
    assert (entry.verb, entry.object_id, entry.actor_name) == (
        "connector.created",
        str(connector.pk),
        "coe-editor",
    )
    assert entry.data["changes"]["config"] == {"before": None, "after": HTTP_CONFIG}
    assert entry.data["changes"]["enabled"] == {"before": None, "after": True}
    assert entry.data["secrets"] == {"set": "headers: Authorization"}
    assert entry.data["via"] == "admin"
    assert API_TOKEN not in json.dumps(entry.data)
    assert connector.history.get().history_user == coe


@pytest.mark.parametrize(
    ("fields", "secrets"),
    [
        ({"slug": "not a slug", "kind": "http", "config": HTTP_CONFIG}, None),
        ({"slug": "erp", "kind": "ftp", "config": HTTP_CONFIG}, None),
        ({"slug": "erp", "kind": "http", "config": {"url": "http://{payload.host}/x"}}, None),
        ({"slug": "erp", "kind": "http", "config": ["not", "an", "object"]}, None),
        ({"slug": "erp", "kind": "webhook", "config": {"url": "https://h.example/in"}}, {}),
        ({"slug": "erp", "kind": "webhook", "config": {"url": "https://h.example/in"}}, "x"),
    ],
)
def test_a_connector_with_bad_settings_is_not_created(coe, fields, secrets):
    with pytest.raises(ValidationError):
        catalog.create_connector(coe, name="ERP", secrets=secrets, **fields)

    assert not Connector.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_webhook_connector_is_created_with_a_valid_signing_secret(coe):
    connector = catalog.create_connector(
        coe,
        slug="hooks",
        name="Hooks",
        kind="webhook",
        config={"url": "https://hooks.example.com/in"},
        secrets={"signing_secret": WEBHOOK_SECRET},
    )

    assert connector.secrets == {"signing_secret": WEBHOOK_SECRET}
    entry = only_entry(verb="connector.created")
    assert entry.data["secrets"] == {"set": "signing_secret"}
    assert "via" not in entry.data
    assert WEBHOOK_SECRET not in json.dumps(entry.data)


def test_a_connector_change_records_only_what_changed_and_keeps_the_secrets(coe):
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG, secrets=SECRETS)

    saved = catalog.update_connector(coe, connector, name="ERP (new)", max_attempts=5)

    connector.refresh_from_db()
    assert (saved.name, connector.name, connector.secrets) == ("ERP (new)", "ERP (new)", SECRETS)
    entry = only_entry()
    assert entry.verb == "connector.updated"
    assert entry.data == {"changes": {"name": {"before": "ERP", "after": "ERP (new)"}}}


def test_replacing_or_clearing_secrets_is_recorded_by_name_only(coe):
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG)

    catalog.update_connector(coe, connector, secrets=SECRETS)
    catalog.update_connector(coe, connector, secrets={})

    connector.refresh_from_db()
    assert connector.secrets == {}
    entries = AuditEntry.objects.order_by("id")
    assert [entry.data for entry in entries] == [
        {"changes": {}, "secrets": {"set": "headers: Authorization"}},
        {"changes": {}, "secrets": {"set": "none"}},
    ]


def test_a_change_that_changes_nothing_records_nothing(coe):
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG)

    catalog.update_connector(coe, connector, name=connector.name, config=HTTP_CONFIG)

    assert not AuditEntry.objects.exists()
    assert connector.history.count() == 1


def test_a_connector_change_leaves_fields_changed_meanwhile_alone(coe):
    """The admin's form was loaded before a failing call disabled the connector; saving a
    new name does not enable it again."""
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG)
    Connector.objects.filter(pk=connector.pk).update(enabled=False, disabled_reason="HTTP 410")

    catalog.update_connector(coe, connector, name="ERP (new)")

    connector.refresh_from_db()
    assert (connector.name, connector.enabled, connector.disabled_reason) == (
        "ERP (new)",
        False,
        "HTTP 410",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"config": {"url": "ftp://erp.example.com"}},
        {"kind": "webhook"},  # no signing secret stored
        {"max_attempts": -1},
        {"slug": "taken"},
    ],
)
def test_a_bad_connector_change_changes_nothing(coe, change):
    make_connector("sandbox", slug="taken")
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG, secrets=SECRETS)

    with pytest.raises(ValidationError):
        catalog.update_connector(coe, connector, name="ERP (new)", secrets={}, **change)

    connector.refresh_from_db()
    assert (connector.name, connector.kind, connector.config, connector.secrets) == (
        "ERP",
        "http",
        HTTP_CONFIG,
        SECRETS,
    )
    assert not AuditEntry.objects.exists()


def test_only_the_fields_the_coe_sets_are_accepted(coe):
    connector = make_connector("http", slug="erp", config=HTTP_CONFIG)
    with pytest.raises(TypeError, match="pk"):
        catalog.update_connector(coe, connector, pk=99)
    with pytest.raises(TypeError, match="secrets"):
        catalog.create_action_type(coe, name="erp.order.create", secrets={})
    assert not AuditEntry.objects.exists()


def test_the_seed_creates_a_connector_once_with_its_secrets_by_name(db):
    system = Actor.system("seed")
    fields = {"name": "ERP", "kind": "http", "config": HTTP_CONFIG, "secrets": SECRETS}

    first = catalog.ensure_connector(system, "erp", **fields)
    again = catalog.ensure_connector(system, "erp", **{**fields, "name": "Other"})

    assert (again.pk, again.name) == (first.pk, "ERP")
    entry = only_entry()
    assert (entry.verb, entry.actor_name) == ("connector.created", "seed")
    assert entry.data["secrets"] == {"set": "headers: Authorization"}
    assert API_TOKEN not in json.dumps(entry.data)


# Action types


def test_a_created_action_type_is_recorded_with_every_field(coe):
    queue = Queue.objects.create(slug="coe-approvals", name="COE approvals")
    connector = make_connector("http", slug="hr", config=HTTP_CONFIG)

    action_type = catalog.create_action_type(
        coe,
        via="admin",
        name="hr.employee.read",
        kind="read",
        sensitive_fields=["email"],
        field_classifications={"salary": "restricted"},
        connector=connector,
        approval_queue=queue,
    )

    entry = only_entry()
    assert (entry.verb, entry.object_id) == ("action_type.created", str(action_type.pk))
    assert entry.data["via"] == "admin"
    assert entry.data["fields"] == {
        "name": "hr.employee.read",
        "title": "",
        "description": "",
        "kind": "read",
        "payload_schema": {},
        "data_classification": "internal",
        "risk_tier": "low",
        "sensitive_fields": ["email"],
        "summary_fields": [],
        "field_classifications": {"salary": "restricted"},
        "connector": "hr",
        "approval_queue": "coe-approvals",
        "read_timeout_seconds": 5,
    }
    assert action_type.history.get().history_user == coe


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "NotDotted"},
        {"payload_schema": {"type": "objekt"}},
        {"field_classifications": {"salary": "secret"}},
        {"sensitive_fields": "email"},
        {"read_timeout_seconds": 600},
    ],
)
def test_an_action_type_with_bad_fields_is_not_created(coe, fields):
    with pytest.raises(ValidationError):
        catalog.create_action_type(coe, **{"name": "erp.order.create", **fields})

    assert not ActionType.objects.exists()
    assert not AuditEntry.objects.exists()


def test_an_action_type_change_records_the_before_and_after_of_what_changed(coe):
    old, new = make_connector("sandbox", slug="old"), make_connector("sandbox", slug="new")
    action_type = make_action_type("erp.order.create", connector=old)

    catalog.update_action_type(coe, action_type, risk_tier="high", connector=new, kind="write")

    action_type.refresh_from_db()
    assert (action_type.risk_tier, action_type.connector) == ("high", new)
    entry = only_entry()
    assert entry.verb == "action_type.updated"
    assert entry.data == {
        "changes": {
            "risk_tier": {"before": "low", "after": "high"},
            "connector": {"before": "old", "after": "new"},
        }
    }


def test_a_bad_action_type_change_changes_nothing(coe):
    email = make_connector("email", slug="mail", config={"to": ["ops@example.com"]})
    action_type = make_action_type("erp.order.create", connector=email)

    with pytest.raises(ValidationError):  # an email connector cannot answer a read
        catalog.update_action_type(coe, action_type, kind="read", risk_tier="high")
    catalog.update_action_type(coe, action_type, risk_tier="low")  # no change

    action_type.refresh_from_db()
    assert (action_type.kind, action_type.risk_tier) == ("write", "low")
    assert not AuditEntry.objects.exists()


def test_the_seed_records_an_action_types_kind_and_field_classifications(db):
    system = Actor.system("seed")

    catalog.ensure_action_type(
        system, "hr.employee.read", kind="read", field_classifications={"salary": "restricted"}
    )
    catalog.ensure_action_type(system, "hr.employee.read", kind="write")

    assert ActionType.objects.get().kind == "read"
    fields = only_entry(verb="action_type.created").data["fields"]
    assert (fields["kind"], fields["field_classifications"]) == (
        "read",
        {"salary": "restricted"},
    )
