"""An open socket stops carrying what its person may no longer see, at once: after signing
out, leaving the unit or being deactivated, it closes and hears nothing more of the unit;
a change that leaves its groups as they were keeps it open. Through the real ASGI
application and the configured channel layer (Redis under make test and CI)."""

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from guardian.shortcuts import assign_perm, remove_perm

from autonomy.consumers import REVOKED
from governance import services as governance_services
from governance.models import MemberRole, Membership
from tests.factories import SYSTEM, make_unit
from tests.workflows.test_inbox import make_governed, submit
from tests.workflows.test_live import ORIGIN, WAIT, Socket
from workflows.queues import coe_queue


def signed_in(user) -> tuple[Client, list[tuple[bytes, bytes]]]:
    """A browser signed in as `user` and its socket's handshake headers (same session)."""
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return client, [ORIGIN, (b"cookie", cookie)]


async def open_socket(headers) -> Socket:
    communicator = Socket(headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def assert_revoked(communicator: Socket) -> None:
    """The socket closes with the revoked code and nothing of the unit comes before it."""
    closed = await communicator.receive_output(WAIT)
    assert closed == {"type": "websocket.close", "code": REVOKED}


def escalate_in_unit_a(world):
    return submit(world.agent_a, {"amount": 5000})


def run_after_change(world, headers, change) -> None:
    """Open a socket, make `change`, and check the socket closes and hears nothing of a new
    escalation of unit A."""

    async def scenario():
        communicator = await open_socket(headers)
        await sync_to_async(change)()
        await assert_revoked(communicator)
        await sync_to_async(escalate_in_unit_a)(world)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.wait(WAIT)

    async_to_sync(scenario)()


def test_a_socket_closes_and_hears_nothing_more_once_its_person_signs_out(transactional_db, world):
    make_governed()
    client, headers = signed_in(world.supervisor_a)
    run_after_change(world, headers, lambda: client.post("/accounts/logout/"))


def test_a_socket_closes_and_hears_nothing_more_once_its_person_leaves_the_unit(
    transactional_db, world
):
    make_governed()
    _, headers = signed_in(world.supervisor_a)
    membership = Membership.objects.get(user=world.supervisor_a, business_unit=world.unit_a)
    run_after_change(
        world, headers, lambda: governance_services.remove_membership(SYSTEM, membership)
    )


def test_a_socket_closes_and_hears_nothing_more_once_its_person_is_deactivated(
    transactional_db, world
):
    make_governed()
    _, headers = signed_in(world.supervisor_a)

    def deactivate():
        world.supervisor_a.is_active = False
        world.supervisor_a.save()

    run_after_change(world, headers, deactivate)


def test_a_socket_closes_once_a_queue_grant_is_taken_back(transactional_db, world):
    make_governed()
    queue = coe_queue()
    assign_perm("workflows.work_queue", world.builder_a, queue)
    _, headers = signed_in(world.builder_a)
    run_after_change(
        world, headers, lambda: remove_perm("workflows.work_queue", world.builder_a, queue)
    )


def test_a_socket_closes_once_its_person_leaves_the_coe(transactional_db, world):
    make_governed()
    _, headers = signed_in(world.coe)
    run_after_change(world, headers, lambda: world.coe.groups.remove(*world.coe.groups.all()))


def test_signing_out_in_one_browser_leaves_the_persons_other_sockets_open(transactional_db, world):
    make_governed()
    leaving, first = signed_in(world.supervisor_a)
    _, second = signed_in(world.supervisor_a)

    async def scenario():
        ended, staying = await open_socket(first), await open_socket(second)
        await sync_to_async(leaving.post)("/accounts/logout/")
        await assert_revoked(ended)
        escalation = await sync_to_async(escalate_in_unit_a)(world)
        message = await staying.receive_json_from(WAIT)
        assert (message["type"], message["id"]) == ("escalation.new", str(escalation.pk))
        await staying.disconnect()

    async_to_sync(scenario)()


def test_a_change_that_leaves_its_groups_as_they_were_keeps_the_socket_open(
    transactional_db, world
):
    make_governed()
    _, headers = signed_in(world.supervisor_a)
    other_unit = make_unit("unit-c")

    async def scenario():
        communicator = await open_socket(headers)
        # An auditor role in unit A adds nothing the supervisor does not already hear...
        await sync_to_async(governance_services.add_membership)(
            SYSTEM, world.supervisor_a, world.unit_a, MemberRole.AUDITOR
        )
        # ...and a renamed colleague changes nothing of the supervisor's.
        colleague = await sync_to_async(get_user_model().objects.get)(pk=world.builder_a.pk)
        colleague.first_name = "Renamed"
        await sync_to_async(colleague.save)()
        escalation = await sync_to_async(escalate_in_unit_a)(world)
        message = await communicator.receive_json_from(WAIT)
        assert (message["type"], message["id"]) == ("escalation.new", str(escalation.pk))
        # A new unit does change the groups: the socket closes and the page reconnects.
        await sync_to_async(governance_services.add_membership)(
            SYSTEM, world.supervisor_a, other_unit, MemberRole.SUPERVISOR
        )
        await assert_revoked_after_pushes(communicator)
        reconnected = await open_socket(headers)
        await reconnected.disconnect()

    async_to_sync(scenario)()


async def assert_revoked_after_pushes(communicator: Socket) -> None:
    """Skip what was pushed before the change (the activity row of the escalation above),
    then the socket closes."""
    while True:
        output = await communicator.receive_output(WAIT)
        if output["type"] == "websocket.close":
            assert output["code"] == REVOKED
            return
        assert output["type"] == "websocket.send"
