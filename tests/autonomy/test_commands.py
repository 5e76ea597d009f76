"""Management commands: issue_agent_key prints a working key, seed_demo can run any
number of times without creating anything twice, and run_embedded announces its URL only
once it answers."""

import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from agents import services
from agents.models import Agent, AgentAPIKey, AgentRole, AgentState
from autonomy.demo import AGENTS, PERSONAS, point_connectors_at_demo_erp
from autonomy.embedded import free_port
from autonomy.management.commands import run_embedded
from governance import ledger
from governance.models import AuditEntry, BusinessUnit, Membership
from workflows import catalog
from workflows.models import Connector

ME = "/api/v1/me/"


def issue(slug: str, *extra: str) -> str:
    out = StringIO()
    call_command("issue_agent_key", slug, *extra, stdout=out)
    return out.getvalue().strip()


def test_issue_agent_key_prints_a_key_that_works(world, as_agent):
    before = AuditEntry.objects.count()
    secret = issue("agent-a", "--name", "deploy pipeline")
    key = AgentAPIKey.objects.get_from_key(secret)
    assert (key.agent, key.name, key.created_by) == (world.agent_a, "deploy pipeline", "cli")
    response = as_agent(secret).get(ME)
    assert response.status_code == 200
    assert response.json()["slug"] == "agent-a"
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_kind, entry.actor_name) == ("agent.key_issued", "system", "cli")
    assert secret not in str(entry.data)


def test_issue_agent_key_adds_a_key_beside_the_existing_ones(world, as_agent):
    secret = issue("agent-a")
    assert AgentAPIKey.objects.filter(agent=world.agent_a, revoked=False).count() == 2
    assert as_agent(world.key_a).get(ME).status_code == 200
    assert as_agent(secret).get(ME).status_code == 200


def test_issue_agent_key_names_an_unknown_slug(world):
    before = AgentAPIKey.objects.count(), AuditEntry.objects.count()
    with pytest.raises(CommandError, match="No agent with slug 'nobody'"):
        issue("nobody")
    assert (AgentAPIKey.objects.count(), AuditEntry.objects.count()) == before


def test_issue_agent_key_refuses_a_retired_agent(world):
    services.transition(world.coe, world.agent_a, "retire")
    before = AgentAPIKey.objects.count()
    with pytest.raises(CommandError, match="retired agent cannot get new keys"):
        issue("agent-a")
    assert AgentAPIKey.objects.count() == before


def counts() -> dict[str, int]:
    return {
        "business units": BusinessUnit.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "roles": AgentRole.objects.count(),
        "agents": Agent.objects.count(),
        "keys": AgentAPIKey.objects.count(),
        "coe": Group.objects.get(name="COE").user_set.count(),
        "ledger": AuditEntry.objects.count(),
    }


def test_seed_demo_creates_the_demo_enterprise(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert BusinessUnit.objects.count() == 3
    assert Agent.objects.count() == len(AGENTS) == 12
    assert get_user_model().objects.count() == len(PERSONAS)
    assert {state for *_, state in AGENTS} == set(AgentState)
    for slug, *_, state in AGENTS:
        assert Agent.objects.get(slug=slug).state == state
    assert "Demo enterprise ready" in out.getvalue()
    assert ledger.seal_pending() == AuditEntry.objects.count()
    assert ledger.verify_database().ok


def test_seed_demo_twice_creates_nothing_the_second_time(db):
    call_command("seed_demo", stdout=StringIO())
    first = counts()
    first_entries = list(AuditEntry.objects.values_list("id", flat=True))
    call_command("seed_demo", stdout=StringIO())
    assert counts() == first
    assert list(AuditEntry.objects.values_list("id", flat=True)) == first_entries


def test_run_embedded_announces_its_url_once_the_server_answers(tmp_path):
    """As `make demo` runs it on a machine with no services: SQLite, its own Redis."""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        AUTONOMY_SQLITE_PATH=str(tmp_path / "demo.sqlite3"),
        AUTONOMY_DEMO_ERP_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=root, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "run_embedded", "--port", str(port), "--no-workforce"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # The command may wait READY_SECONDS for its server, after starting Django and Redis.
        deadline, said = time.monotonic() + run_embedded.READY_SECONDS + 120, []
        while time.monotonic() < deadline and not any("is running at" in s for s in said):
            if select.select([server.stdout], [], [], 1)[0]:
                said.append(server.stdout.readline())
        assert any(f"is running at http://127.0.0.1:{port}/" in s for s in said), "".join(said)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200  # at once: the announcement waited for it
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_the_demo_erp_connectors_follow_the_port_the_demo_erp_listens_on(db, settings):
    settings.AUTONOMY_DEMO_ERP_PORT = 8009
    call_command("seed_demo", stdout=StringIO())
    settings.AUTONOMY_DEMO_ERP_PORT = 8209
    system = ledger.Actor.system("run_embedded")
    assert point_connectors_at_demo_erp(system) == ["demo-erp-orders", "demo-erp-suppliers"]
    orders = Connector.objects.get(slug="demo-erp-orders")
    assert orders.config["url"] == "http://127.0.0.1:8209/purchase-orders"
    assert AuditEntry.objects.filter(verb="connector.updated", object_id=str(orders.pk)).exists()
    assert point_connectors_at_demo_erp(system) == []  # already there: nothing recorded
    # A connector the COE has pointed at a real ERP is theirs.
    suppliers = Connector.objects.get(slug="demo-erp-suppliers")
    real = {**suppliers.config, "url": "https://erp.example.com/suppliers/{payload.supplier}"}
    catalog.update_connector(system, suppliers, config=real)
    settings.AUTONOMY_DEMO_ERP_PORT = 8309
    assert point_connectors_at_demo_erp(system) == ["demo-erp-orders"]
    suppliers.refresh_from_db()
    assert suppliers.config["url"].startswith("https://erp.example.com/")
