"""Publishing and archiving one version at the same moment (PostgreSQL: real row locks).

Found by probing production: two publishes and two archives of one draft at once answered
500 (deadlock) a quarter of the time, because archive locked the version before the policy
and publish the policy before the version. Now every change locks the policy row first."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from governance import policies
from governance.models import AuditEntry, PolicyVersion
from tests.conftest import requires_postgres
from tests.factories import SYSTEM

State = PolicyVersion.State
ROUNDS = 10

pytestmark = [pytest.mark.postgres, requires_postgres]


def _in_parallel(calls) -> list[int]:
    """Run each call in its own thread and database connection, started together; their
    answers' status codes in the order given."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)
    errors: list[BaseException] = []

    def run(number: int, call) -> None:
        try:
            barrier.wait(timeout=30)
            statuses[number] = call()
        except BaseException as exc:  # reported by the test, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return statuses


@pytest.mark.django_db(transaction=True)
def test_two_publishes_and_two_archives_at_once_never_deadlock_and_the_losers_get_409(world):
    policy = policies.create_policy(SYSTEM, "race", "Race")
    first = policy.versions.get()
    policies.add_rule(SYSTEM, first, name="po", action_pattern="erp.*", effect="allow")
    policies.publish(SYSTEM, first)
    seen: list[int] = []
    for _ in range(ROUNDS):
        draft = policies.create_draft(SYSTEM, policy)
        clients = []
        for _ in range(4):
            client = APIClient()
            client.force_login(world.coe)
            clients.append(client)
        base = f"/api/v1/policy-versions/{draft.pk}"
        statuses = _in_parallel(
            [
                lambda c=clients[0]: c.post(f"{base}/publish/").status_code,
                lambda c=clients[1]: c.post(f"{base}/publish/").status_code,
                lambda c=clients[2]: c.post(f"{base}/archive/").status_code,
                lambda c=clients[3]: c.post(f"{base}/archive/").status_code,
            ]
        )
        seen.extend(statuses)
        assert set(statuses) <= {200, 409}, statuses
        # One publish at most, one archive at most (an archive after the publish archives
        # what was just published); the rest were told the version had moved on.
        assert statuses[:2].count(200) <= 1 and statuses[2:].count(200) <= 1
        assert 200 in statuses
        assert policy.versions.filter(state=State.PUBLISHED).count() <= 1
        draft.refresh_from_db()
        assert draft.state in (State.PUBLISHED, State.ARCHIVED)
        verbs = AuditEntry.objects.filter(object_id=str(draft.pk), verb__startswith="policy.")
        assert verbs.filter(verb="policy.published").count() <= 1
    assert seen.count(409) >= ROUNDS  # every round had losers
