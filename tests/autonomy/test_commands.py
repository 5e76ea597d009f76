"""Management commands: issue_agent_key prints a working key, seed_demo can run any
number of times without creating anything twice, and run_embedded announces its URL only
once it answers, on ports nobody else holds."""

import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
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


ROOT = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, "manage.py"]


def demo_env(tmp_path, **extra: str) -> dict[str, str]:
    """The environment of `make demo` on a machine with no services: SQLite, its own Redis,
    no AUTONOMY_DEMO_ERP_PORT unless given."""
    drop = ("DATABASE_URL", "REDIS_URL", "AUTONOMY_DEMO_ERP_PORT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(AUTONOMY_SQLITE_PATH=str(tmp_path / "demo.sqlite3"), PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture
def taken_port():
    """A port another process listens on, as `python3 -m http.server 8009` would."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def connector_url(database: Path, slug: str) -> str:
    with closing(sqlite3.connect(database)) as connection:
        (config,) = connection.execute(
            "SELECT config FROM workflows_connector WHERE slug = ?", (slug,)
        ).fetchone()
    return json.loads(config)["url"]


def test_run_embedded_announces_its_url_once_the_server_answers_with_its_erp_port_taken(tmp_path):
    """As `make demo` runs it: the demo ERP's usual port (the web port + 9) is taken by
    someone else, so it takes a free one and the seeded ERP connectors follow it."""
    env = demo_env(tmp_path)
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        subprocess.run([*MANAGE, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    usual_erp_port = port + run_embedded.ERP_PORT_OFFSET
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", usual_erp_port))
        holder.listen()
        server = subprocess.Popen(
            [*MANAGE, "run_embedded", "--port", str(port), "--no-workforce"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            # It may wait READY_SECONDS for its server, after starting Django and Redis.
            deadline, said = time.monotonic() + run_embedded.READY_SECONDS + 120, []
            while time.monotonic() < deadline and not any("is running at" in s for s in said):
                if select.select([server.stdout], [], [], 1)[0]:
                    said.append(server.stdout.readline())
            output = "".join(said)
            assert f"is running at http://127.0.0.1:{port}/" in output, output
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                assert answer.status == 200  # at once: the announcement waited for it
            erp_port = int(re.search(r"Demo ERP on http://127\.0\.0\.1:(\d+)/", output)[1])
            assert erp_port != usual_erp_port
            orders_url = connector_url(tmp_path / "demo.sqlite3", "demo-erp-orders")
            assert orders_url == f"http://127.0.0.1:{erp_port}/purchase-orders"
            with urllib.request.urlopen(orders_url, timeout=5) as answer:
                assert json.load(answer) == []  # the demo ERP answers where they point
            assert "Traceback" not in output
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)


@pytest.mark.parametrize("taken", ["AUTONOMY_DEMO_ERP_PORT", "--port"])
def test_run_embedded_refuses_a_taken_port_it_was_told_in_one_line(tmp_path, taken_port, taken):
    """An explicit port that is taken is the operator's to change: one line, no traceback,
    nothing started."""
    free = str(free_port())
    erp_port, web_port = (taken_port, free) if taken != "--port" else (free, taken_port)
    finished = subprocess.run(
        [*MANAGE, "run_embedded", "--port", str(web_port), "--no-workforce"],
        cwd=ROOT,
        env=demo_env(tmp_path, AUTONOMY_DEMO_ERP_PORT=str(erp_port)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    assert finished.stdout == ""
    (line,) = finished.stderr.splitlines()
    assert line.startswith("CommandError: ") and str(taken_port) in line
    assert (taken in line) if taken != "--port" else ("PORT=" in line)


def test_the_demo_erp_connectors_follow_the_port_the_demo_erp_listens_on(db, settings):
    settings.AUTONOMY_DEMO_ERP_PORT = None
    call_command("seed_demo", stdout=StringIO())
    orders = Connector.objects.get(slug="demo-erp-orders")
    assert orders.config["url"] == "http://127.0.0.1:8009/purchase-orders"
    system = ledger.Actor.system("run_embedded")
    assert point_connectors_at_demo_erp(system, 8209) == ["demo-erp-orders", "demo-erp-suppliers"]
    orders.refresh_from_db()
    assert orders.config["url"] == "http://127.0.0.1:8209/purchase-orders"
    assert AuditEntry.objects.filter(verb="connector.updated", object_id=str(orders.pk)).exists()
    assert point_connectors_at_demo_erp(system, 8209) == []  # already there: nothing recorded
    # A connector the COE has pointed at a real ERP is theirs.
    suppliers = Connector.objects.get(slug="demo-erp-suppliers")
    real = {**suppliers.config, "url": "https://erp.example.com/suppliers/{payload.supplier}"}
    catalog.update_connector(system, suppliers, config=real)
    assert point_connectors_at_demo_erp(system, 8309) == ["demo-erp-orders"]
    suppliers.refresh_from_db()
    assert suppliers.config["url"].startswith("https://erp.example.com/")
