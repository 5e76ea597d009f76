"""The live socket /ws/activity/ through the real ASGI application (session auth, Origin
check, routing): who may connect, which groups they join, and that each person hears
only what their pages would show them, as the same fragments."""

import asyncio
import json
import threading
import time
import uuid
from socket import create_server

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from autonomy.asgi import application
from tests.conftest import requires_redis
from tests.workflows.test_gateway import PO, governed, post  # noqa: F401 (fixture)
from tests.workflows.test_inbox import make_governed, submit
from workflows import inbox, live, push
from workflows.models import Escalation, Queue
from workflows.queues import coe_queue

ORIGIN = (b"origin", b"http://testserver")
WAIT = 5


def headers_for(user=None, origin=ORIGIN) -> list[tuple[bytes, bytes]]:
    """Handshake headers: the Origin, and the session cookie of `user` signed in."""
    headers = [origin]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


class Socket(ApplicationCommunicator):
    """A browser's socket to /ws/activity/ on the real ASGI application (what channels'
    WebsocketCommunicator does; channels.testing cannot be imported without daphne)."""

    def __init__(self, headers) -> None:
        scope = {
            "type": "websocket",
            "path": "/ws/activity/",
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self) -> tuple[bool, int | None]:
        """(True, None) when accepted, else (False, the close code)."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(WAIT)
        return response["type"] == "websocket.accept", response.get("code")

    async def receive_json_from(self, timeout: float = WAIT) -> dict:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(WAIT)


def socket(headers) -> Socket:
    return Socket(headers)


def test_group_names_come_from_one_function_and_follow_the_persons_scope(db, world):
    unit_a, unit_b = world.unit_a.pk, world.unit_b.pk
    assert live.groups_for(AnonymousUser()) == []
    assert live.groups_for(world.coe) == ["inbox.coe", "activity.coe"]
    assert live.groups_for(world.supervisor_a) == [f"inbox.{unit_a}", f"activity.{unit_a}"]
    assert live.groups_for(world.supervisor_b) == [f"inbox.{unit_b}", f"activity.{unit_b}"]
    assert live.groups_for(world.builder_a) == [f"activity.{unit_a}"]
    queue = coe_queue()
    assign_perm("workflows.work_queue", world.builder_a, queue)
    assert live.groups_for(world.builder_a) == [f"queue.{queue.pk}", f"activity.{unit_a}"]
    with pytest.raises(ValueError):
        live.group_name("everyone")


def test_anonymous_connections_are_refused(transactional_db):
    async def scenario():
        connected, _ = await socket(headers_for()).connect()
        assert not connected

    async_to_sync(scenario)()


def test_a_foreign_origin_is_refused_even_with_a_valid_session(transactional_db, world):
    headers = headers_for(world.supervisor_a, origin=(b"origin", b"http://evil.example"))

    async def scenario():
        connected, _ = await socket(headers).connect()
        assert not connected

    async_to_sync(scenario)()


def test_an_agents_socket_is_refused(transactional_db, world):
    headers = [ORIGIN, (b"authorization", f"Bearer {world.key_a}".encode())]

    async def scenario():
        connected, _ = await socket(headers).connect()
        assert not connected

    async_to_sync(scenario)()


def test_a_new_escalation_reaches_its_units_supervisors_and_the_coe_only(transactional_db, world):
    make_governed()
    sockets = {
        name: headers_for(getattr(world, name)) for name in ("supervisor_a", "supervisor_b", "coe")
    }

    async def scenario():
        connected = {name: socket(headers) for name, headers in sockets.items()}
        for communicator in connected.values():
            ok, _ = await communicator.connect()
            assert ok
        escalation = await sync_to_async(submit)(world.agent_a, {"amount": 5000})
        row = await sync_to_async(
            lambda: live.render_escalation(live.escalation_queryset().get(pk=escalation.pk))
        )()
        for name in ("supervisor_a", "coe"):
            message = await connected[name].receive_json_from(timeout=WAIT)
            assert message["type"] == "escalation.new"
            assert message["id"] == str(escalation.pk)
            assert message["html"].strip().startswith(f'<tr id="escalation-{escalation.pk}"')
            assert message["html"] == row  # the very fragment the inbox page renders
        assert await connected["supervisor_b"].receive_nothing(timeout=0.5)

        await sync_to_async(inbox.claim)(world.supervisor_a, escalation)
        claimed = await connected["supervisor_a"].receive_json_from(timeout=WAIT)
        assert claimed["type"] == "escalation.claimed"
        assert "supervisor-a" in claimed["html"]

        await sync_to_async(inbox.reject)(world.supervisor_a, escalation, "Not this supplier.")
        received = [await connected["supervisor_a"].receive_json_from(timeout=WAIT)]
        received.append(await connected["supervisor_a"].receive_json_from(timeout=WAIT))
        kinds = {message["type"]: message for message in received}
        assert set(kinds) == {"activity", "escalation.decided"}
        assert f'id="activity-{escalation.action_id}"' in kinds["activity"]["html"]
        assert "Rejected" in kinds["escalation.decided"]["html"]
        assert await connected["supervisor_b"].receive_nothing(timeout=0.5)
        for communicator in connected.values():
            await communicator.disconnect()

    async_to_sync(scenario)()


def test_an_action_the_gateway_escalates_reaches_the_inbox_and_the_feed_together(
    transactional_db,
    world,
    governed,  # noqa: F811
    as_agent,
):
    sockets = {name: headers_for(getattr(world, name)) for name in ("supervisor_a", "supervisor_b")}

    async def scenario():
        connected = {name: socket(headers) for name, headers in sockets.items()}
        for communicator in connected.values():
            assert (await communicator.connect())[0]
        response = await sync_to_async(post)(
            as_agent(world.key_a), {"action": PO, "payload": {"amount": 5000}}
        )
        assert response.status_code == 202
        body = response.json()
        new = await connected["supervisor_a"].receive_json_from(timeout=WAIT)
        activity = await connected["supervisor_a"].receive_json_from(timeout=WAIT)
        assert (new["type"], new["id"]) == ("escalation.new", body["escalation_id"])
        assert (activity["type"], activity["id"]) == ("activity", body["id"])
        assert 'data-state="pending_approval"' in activity["html"]
        rows_now = await sync_to_async(
            lambda: (
                live.render_escalation(live.escalation_queryset().get(pk=new["id"])),
                live.render_activity(live.activity_queryset().get(pk=activity["id"])),
            )
        )()
        assert (new["html"], activity["html"]) == rows_now  # what the pages show
        assert await connected["supervisor_b"].receive_nothing(timeout=0.5)
        for communicator in connected.values():
            await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_queue_grant_holder_hears_that_queue_only(transactional_db, world):
    make_governed(route="desk-a")
    desk = Queue.objects.create(slug="desk-a", name="Desk A", business_unit=world.unit_a)
    assign_perm("workflows.work_queue", world.auditor, desk)  # the auditor is in unit A
    headers = headers_for(world.auditor)

    async def scenario():
        communicator = socket(headers)
        ok, _ = await communicator.connect()
        assert ok
        escalation = await sync_to_async(submit)(world.agent_a, {"amount": 5000})
        message = await communicator.receive_json_from(timeout=WAIT)
        assert message == {**message, "type": "escalation.new", "id": str(escalation.pk)}
        moved = await sync_to_async(
            lambda: inbox.reassign(world.supervisor_a, escalation, queue=coe_queue())
        )()
        decided = await communicator.receive_json_from(timeout=WAIT)
        assert decided["type"] == "escalation.decided" and decided["id"] == str(escalation.pk)
        # The escalation now waits in the COE queue, which the auditor does not work.
        assert await communicator.receive_nothing(timeout=0.5)
        assert moved.queue.slug == "coe-approvals"
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_push_reads_its_escalation_back_in_one_unordered_query(db, world):
    make_governed()
    escalation = submit(world.agent_a, {"amount": 5000})
    with CaptureQueriesContext(connection) as queries:
        live._push_escalation(escalation.pk, "escalation.new")
    # One query: a second one here means the row (workflows.rows) shows something
    # live.PUSHED_ESCALATION_FIELDS leaves out. ORDER BY with LIMIT made PostgreSQL plan
    # the joins several times longer than it ran them (bench/push); a key lookup needs
    # neither.
    (read,) = queries.captured_queries
    assert "ORDER BY" not in read["sql"] and "LIMIT" not in read["sql"]


def test_a_socket_relays_every_escalation_event_as_type_id_and_html_only(transactional_db, world):
    headers = headers_for(world.supervisor_a)
    group = live.group_name("inbox", world.unit_a.pk)

    async def scenario():
        communicator = socket(headers)
        ok, _ = await communicator.connect()
        assert ok
        layer = get_channel_layer()
        for kind in ("escalation.resolved", "activity"):
            message = {"type": kind, "id": "7", "html": "<tr></tr>", "note": "server only"}
            await layer.group_send(group, message)
            relayed = await communicator.receive_json_from(timeout=WAIT)
            assert relayed == {"type": kind, "id": "7", "html": "<tr></tr>"}
        await communicator.disconnect()

    async_to_sync(scenario)()


def redis_layer(**config) -> dict:
    """CHANNEL_LAYERS with the configured Redis pub/sub layer and `config` on top."""
    default = settings.CHANNEL_LAYERS["default"]
    return {"default": {**default, "CONFIG": {**default["CONFIG"], **config}}}


@requires_redis
@pytest.mark.parametrize("prefix", [None, "autonomy-test"])
def test_one_push_reaches_every_group_through_the_redis_layer(settings, prefix):
    settings.CHANNEL_LAYERS = redis_layer(**({"prefix": prefix} if prefix else {}))
    # Redis pub/sub channels are shared by every database number: keys no other run uses.
    key = uuid.uuid4().int % 10**12
    groups = [live.group_name(audience, key) for audience in ("queue", "inbox", "activity")]
    message = {"type": "escalation.new", "id": "42", "html": "<tr id='escalation-42'></tr>"}

    async def scenario():
        layer = get_channel_layer()
        channels = []
        for group in groups:  # one listener per group, as one socket per person
            channels.append(await layer.new_channel())
            await layer.group_add(group, channels[-1])
        await sync_to_async(push.send)((groups, message))
        for channel in channels:
            assert await layer.receive(channel) == message
        for group, channel in zip(groups, channels, strict=True):
            await layer.group_discard(group, channel)
        await layer.flush()

    async_to_sync(scenario)()


@requires_redis
def test_pushes_sent_together_each_reach_their_own_groups_in_order(settings):
    settings.CHANNEL_LAYERS = redis_layer()
    key = uuid.uuid4().int % 10**12
    unit, coe = live.group_name("activity", key), live.group_name("activity", key + 1)
    first = {"type": "activity", "id": "1", "html": "<tr id='action-1'></tr>"}
    second = {"type": "activity", "id": "2", "html": "<tr id='action-2'></tr>"}

    async def scenario():
        layer = get_channel_layer()
        on_unit, on_coe = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(unit, on_unit)
        await layer.group_add(coe, on_coe)
        await sync_to_async(push.send)(([unit, coe], first), ([coe], second))
        assert await layer.receive(on_coe) == first
        assert await layer.receive(on_coe) == second
        assert await layer.receive(on_unit) == first
        with pytest.raises(asyncio.TimeoutError):  # the second was not for this group
            await asyncio.wait_for(layer.receive(on_unit), timeout=0.3)
        await layer.group_discard(unit, on_unit)
        await layer.group_discard(coe, on_coe)
        await layer.flush()

    async_to_sync(scenario)()


@requires_redis
def test_concurrent_first_pushes_share_one_client_and_all_arrive(settings, monkeypatch):
    url = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    monkeypatch.setattr(push, "_clients", {})  # this process has not pushed yet
    start = threading.Barrier(16)
    clients, errors = [], []

    def first_push() -> None:
        start.wait()
        try:
            client = push._redis(url)
            clients.append(client)
            pipeline = client.pipeline(transaction=False)
            pipeline.publish(f"test-{uuid.uuid4().hex}", b"x")
            pipeline.execute()
        except Exception as exc:  # any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=first_push) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(client) for client in clients}) == 1


@requires_redis
def test_a_push_refuses_a_layer_it_cannot_address(settings):
    url = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    settings.CHANNEL_LAYERS = redis_layer(hosts=[url, url])
    with pytest.raises(ImproperlyConfigured):
        push.send((["inbox.coe"], {"type": "escalation.new", "id": "1", "html": ""}))


def test_a_push_to_a_silent_redis_gives_up_within_seconds_and_the_commit_stands(
    db, world, settings, caplog, django_capture_on_commit_callbacks
):
    make_governed()
    with create_server(("127.0.0.1", 0)) as silent:  # connects (the backlog), never answers
        host, port = silent.getsockname()
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [f"redis://{host}:{port}/0"]},
            }
        }
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            escalation = submit(world.agent_a, {"amount": 5000})
        waited = time.monotonic() - started
    assert waited < 3 * push.PUSH_TIMEOUT + 1  # two tries, not redis-py's default eleven
    assert Escalation.objects.filter(pk=escalation.pk).exists()
    assert "in on_commit()" in caplog.text  # the failed push is logged
