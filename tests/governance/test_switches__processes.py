"""Kill switches across processes: a switch engaged here stops actions in another process on
its very next check, and a release lets them through again.

The other process is a real Python interpreter with the same settings, database and Redis,
answering "business unit, action" queries over stdin/stdout. It needs a database that two
processes share (PostgreSQL; pytest-django's SQLite test database lives in memory) and a
shared cache (Redis).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from governance import switches
from tests.conftest import requires_postgres, requires_redis
from tests.factories import make_world

pytestmark = [requires_postgres, requires_redis]

ROOT = Path(__file__).resolve().parents[2]

# The other process: warm the cache on the first query, then answer each query from it.
WORKER = """
import json, sys
import django
django.setup()
from governance.switches import blocking_switch
for line in sys.stdin:
    unit, action = line.split()
    found = blocking_switch(unit, action)
    print(json.dumps(None if found is None else {"id": found.id, "kind": found.kind}), flush=True)
"""


def shared_database_url() -> str:
    """The URL of the test database this process is using (test_<name>), for another one."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


class OtherProcess:
    """A separate interpreter that answers blocking_switch(unit, action) line by line."""

    def __init__(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "DJANGO_SETTINGS_MODULE": "autonomy.settings",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def blocking(self, unit: str, action: str):
        self.process.stdin.write(f"{unit} {action}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the other process died"
        return json.loads(line)

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def other_process():
    process = OtherProcess()
    yield process
    process.stop()


@pytest.mark.django_db(transaction=True)
def test_a_switch_engaged_here_stops_actions_in_another_process_at_once(other_process):
    world = make_world()
    action = "erp.purchase_order.create"
    assert other_process.blocking("unit-a", action) is None  # its cache is warm now
    assert other_process.blocking("unit-a", action) is None

    freeze = switches.engage_freeze(world.supervisor_a, world.unit_a, "Runaway orders")

    assert other_process.blocking("unit-a", action) == {
        "id": freeze.pk,
        "kind": "freeze_business_unit",
    }
    assert other_process.blocking("unit-b", action) is None

    block = switches.engage_block(world.coe, "erp.purchase_order.*", "Supplier fraud")
    switches.release(world.supervisor_a, freeze, "Fixed")

    assert other_process.blocking("unit-a", action) == {"id": block.pk, "kind": "block_action"}
    assert other_process.blocking("unit-b", action) == {"id": block.pk, "kind": "block_action"}

    switches.release(world.coe, block, "Resolved")

    assert other_process.blocking("unit-a", action) is None
    assert other_process.blocking("unit-b", action) is None
