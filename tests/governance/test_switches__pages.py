"""Kill switch pages: the scoped list, engaging and releasing with htmx or plain forms."""

import re

import pytest
from django.core.cache import cache
from django.test import Client

from governance import epochs, switches
from governance.models import AuditEntry, KillSwitch

PAGE = "/governance/switches/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def forget_switches_afterwards():
    """Rows vanish with each test's rollback; a new epoch makes every cache forget them."""
    yield
    cache.add(epochs.SWITCHES, 0, timeout=None)
    cache.incr(epochs.SWITCHES)


@pytest.fixture
def signed_in():
    def client_for(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return client_for


def test_the_page_lists_engaged_and_released_switches_in_scope(world, signed_in):
    switches.engage_freeze(world.coe, world.unit_a, "Freeze of A")
    switches.engage_freeze(world.coe, world.unit_b, "Freeze of B")
    block = switches.engage_block(world.coe, "crm.*", "CRM migration")
    switches.release(world.coe, block, "Migration done")

    page = signed_in(world.supervisor_a).get(PAGE)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Freeze of A" in html and "Freeze of B" not in html
    assert "unit-b" not in html and "Unit-B" not in html
    assert "CRM migration" in html and "Migration done" in html
    # Strict CSP: no inline styles or scripts.
    assert 'style="' not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_forms_follow_what_the_person_may_do(world, signed_in):
    coe = signed_in(world.coe).get(PAGE).content.decode()
    supervisor = signed_in(world.supervisor_a).get(PAGE).content.decode()
    builder = signed_in(world.builder_a).get(PAGE).content.decode()

    assert 'id="freeze-card"' in coe and 'id="block-card"' in coe
    assert 'id="freeze-card"' in supervisor and 'id="block-card"' not in supervisor
    assert 'value="unit-a"' in supervisor and 'value="unit-b"' not in supervisor
    assert 'id="freeze-card"' not in builder and 'id="block-card"' not in builder


def test_a_supervisor_freezes_their_unit_with_htmx_and_sees_it_at_once(world, signed_in):
    response = signed_in(world.supervisor_a).post(
        "/governance/switches/freeze/",
        {"business_unit": "unit-a", "reason": "Runaway orders"},
        **HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="switch-panel">')
    assert "Unit-A is frozen" in html and "Runaway orders" in html
    switch = KillSwitch.objects.get()
    assert switch.engaged_by == world.supervisor_a and switch.business_unit == world.unit_a
    assert AuditEntry.objects.filter(verb="kill_switch.engaged", object_id=str(switch.pk)).exists()


def test_supervisor_b_cannot_freeze_unit_a_it_is_404(world, signed_in):
    response = signed_in(world.supervisor_b).post(
        "/governance/switches/freeze/", {"business_unit": "unit-a", "reason": "Not mine"}
    )

    assert response.status_code == 404
    assert not KillSwitch.objects.exists()


def test_a_freeze_without_a_reason_is_refused_with_the_form_and_changes_nothing(world, signed_in):
    client = signed_in(world.coe)

    plain = client.post("/governance/switches/freeze/", {"business_unit": "unit-a", "reason": ""})
    htmx = client.post(
        "/governance/switches/freeze/", {"business_unit": "unit-a", "reason": " "}, **HTMX
    )

    assert plain.status_code == 400
    assert "This field is required." in plain.content.decode()
    assert htmx.status_code == 200  # htmx swaps only 2xx answers: the panel shows the error
    assert "This field is required." in htmx.content.decode()
    assert not KillSwitch.objects.exists()


def test_coe_staff_block_and_release_a_pattern_from_the_page(world, signed_in):
    client = signed_in(world.coe)

    blocked = client.post(
        "/governance/switches/block/", {"action_pattern": "erp.payment.*", "reason": "Outage"}
    )
    switch = KillSwitch.objects.get()
    released = client.post(
        f"/governance/switches/{switch.pk}/release/", {"reason": "Bank is back"}, **HTMX
    )

    assert blocked.status_code == 302 and blocked["Location"] == PAGE
    assert released.status_code == 200
    assert "Released: erp.payment.*" in released.content.decode()
    switch.refresh_from_db()
    assert not switch.active and switch.release_reason == "Bank is back"


def test_a_bad_pattern_is_refused_on_the_form(world, signed_in):
    response = signed_in(world.coe).post(
        "/governance/switches/block/", {"action_pattern": "Not A Pattern", "reason": "x"}
    )

    assert response.status_code == 400
    assert "Give an action pattern" in response.content.decode()
    assert not KillSwitch.objects.exists()


def test_a_release_without_a_reason_shows_the_error_next_to_the_switch(world, signed_in):
    switch = switches.engage_freeze(world.supervisor_a, world.unit_a, "Pause")

    response = signed_in(world.supervisor_a).post(
        f"/governance/switches/{switch.pk}/release/", {"reason": ""}, **HTMX
    )

    assert response.status_code == 200
    assert "is-invalid" in response.content.decode()
    switch.refresh_from_db()
    assert switch.active


def test_who_may_release_from_the_page(world, signed_in):
    by_coe = switches.engage_freeze(world.coe, world.unit_a, "COE stop")
    url = f"/governance/switches/{by_coe.pk}/release/"

    assert signed_in(world.supervisor_a).post(url, {"reason": "x"}).status_code == 403
    assert signed_in(world.supervisor_b).post(url, {"reason": "x"}).status_code == 404
    assert signed_in(world.builder_a).post(url, {"reason": "x"}).status_code == 403
    by_coe.refresh_from_db()
    assert by_coe.active
