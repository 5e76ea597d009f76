"""Escalation push benchmark: from an escalation's commit to its fragment on supervisors' sockets.

Run with `bench/push` (options: --count N, --rate R, --quick, --record). It creates a
fresh PostgreSQL database (autonomy_bench, or AUTONOMY_BENCH_DATABASE), seeds one business
unit with its approval queue, one agent and 50 supervisors (bench/actions_bench.seed_world),
and starts uvicorn autonomy.asgi:application (DEBUG=false, Redis db 14 or
AUTONOMY_BENCH_REDIS_URL, so the channel layer is channels_redis.pubsub.RedisPubSubChannelLayer
as autonomy/settings.py configures it).

Clients: a separate process (so the producer's work cannot delay their clocks) opens one
`websockets` connection per supervisor to /ws/activity/ with that supervisor's session
cookie (django.test.Client.force_login) and an allowed Origin, and notes
time.monotonic() when each `escalation.new` message arrives (CLOCK_MONOTONIC is one
clock for every process of the machine).

Producer (this process): at R escalations per second it submits a purchase order the
policy sends for approval through workflows.gateway.submit, inside one transaction;
submit writes the escalation and announces it (workflows.inbox.announce), whose push
(workflows.live: render the inbox row of the escalation just written, publish it to the
queue, COE and unit groups) runs on commit. An on_commit callback registered BEFORE
submit runs first, right after COMMIT, and stamps time.monotonic(): latency = arrival -
that stamp, per client and escalation; an escalation a client never got counts as lost.
Scenarios: 1 supervisor, then 50 supervisors, each at 20 escalations/s. The split of the
latency into stages comes from stamps around workflows.live's steps in this process
(clock_push_stages), and the clients' arrival times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.actions_bench import (
    ACTION,
    DB_NAME,
    ROOT,
    bench_env,
    drop_database,
    free_port,
    fresh_database,
    machine,
    record_section,
    seed_world,
    setup_django,
    start,
    stop,
    wait_for_port,
)

# Seconds between the last client's handshake and the first escalation (see render()).
SETTLE = 2.0
START_MARK = "<!-- bench/push:start -->"
END_MARK = "<!-- bench/push:end -->"


async def _listen(url: str, origin: str, cookie: str, arrivals: dict, ready: list) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, origin=origin, additional_headers={"Cookie": cookie}) as socket:
        ready.append(1)
        async for raw in socket:
            now = time.monotonic()
            message = json.loads(raw)
            if message.get("type") == "escalation.new":
                arrivals.setdefault(message["id"], now)


async def _clients(port: int, cookies: list[str], out: Path) -> None:
    """Connect every client, say READY, listen until stdin closes, write the arrivals."""
    url = f"ws://127.0.0.1:{port}/ws/activity/"
    origin = f"http://127.0.0.1:{port}"
    arrivals: list[dict] = [{} for _ in cookies]
    ready: list = []
    tasks = [
        asyncio.create_task(_listen(url, origin, cookie, arrivals[i], ready))
        for i, cookie in enumerate(cookies)
    ]
    while len(ready) < len(cookies):
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    out.write_text(json.dumps(arrivals))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# The split of the latency, in the order the push runs: stage -> (from stamp, to stamp),
# stamps taken in this process, and "arrival" by the clients' process, on one clock.
STAGES = {
    "commit to render": ("commit", "render"),
    "render the row": ("render", "publish"),
    "publish to 3 groups": ("publish", "published"),
    "Redis -> uvicorn -> socket -> client": ("published", "arrival"),
}


def clock_push_stages() -> dict[str, dict[str, float]]:
    """Stamp time.monotonic() as the product's escalation push (workflows.live) starts its
    render and its publish (workflows.push), and when the publish returns, by escalation
    id. Wraps their own functions in this process only: what runs is unchanged."""
    from workflows import live, push

    stamps: dict[str, dict[str, float]] = {}
    current: dict[str, float] = {}
    render, send = live.render_escalation, push.send

    def timed_render(escalation):
        current.clear()
        current["render"] = time.monotonic()
        return render(escalation)

    def timed_send(*sends: tuple[list[str], dict]) -> None:
        started = time.monotonic()
        send(*sends)
        for _, message in sends:
            if message["type"] == "escalation.new":
                stamps[message["id"]] = {
                    **current,
                    "publish": started,
                    "published": time.monotonic(),
                }

    live.render_escalation, push.send = timed_render, timed_send
    return stamps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def scenario(
    port: int,
    world: dict,
    n_clients: int,
    count: int,
    rate: float,
    workdir: Path,
    settle: float,
    stamps: dict[str, dict[str, float]],
):
    """Run one scenario, producing `settle` seconds after every client connected; returns
    (latencies in ms, lost, deliveries expected, producer ms per escalation, the split:
    stage -> ms per delivery)."""
    from django.conf import settings
    from django.db import transaction
    from django.test import Client

    from workflows.gateway import submit

    cookies = []
    for user in world["supervisors"][:n_clients]:
        client = Client()
        client.force_login(user)
        cookies.append(
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    cookie_file = workdir / f"cookies-{n_clients}.json"
    cookie_file.write_text(json.dumps(cookies))
    out = workdir / f"arrivals-{n_clients}.json"
    clients = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.push_bench",
            "--clients",
            str(port),
            str(cookie_file),
            str(out),
        ],
        cwd=ROOT,
        env=bench_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if clients.stdout.readline().strip() != "READY":
            raise RuntimeError("websocket clients did not connect")
        agent, committed, producer_ms = world["agents"][0], {}, []
        interval, run = 1.0 / rate, time.monotonic_ns()  # a fresh Idempotency-Key space
        t0 = time.monotonic() + settle
        for i in range(count):
            delay = t0 + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp: dict = {}
            began = time.perf_counter()
            with transaction.atomic():
                transaction.on_commit(lambda stamp=stamp: stamp.setdefault("t", time.monotonic()))
                answer = submit(
                    agent,
                    f"push-{run}-{i}",
                    {"action": ACTION, "payload": {"amount": 5000, "supplier": "Acme"}},
                )
            producer_ms.append((time.perf_counter() - began) * 1000)
            if answer.status != 202:
                raise RuntimeError(
                    f"expected an escalation (202), got {answer.status}: {answer.body}"
                )
            committed[answer.body["escalation_id"]] = stamp["t"]
        time.sleep(2.0)
        clients.stdin.close()
        clients.wait(30)
    finally:
        if clients.poll() is None:
            clients.kill()
            clients.wait()
    arrivals = json.loads(out.read_text())
    latencies, lost, missing = [], 0, []
    split: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for seen in arrivals:
        for index, (escalation_id, t_commit) in enumerate(committed.items()):
            if escalation_id in seen:
                latencies.append((seen[escalation_id] - t_commit) * 1000)
                at = {**stamps.get(escalation_id, {}), "commit": t_commit}
                at["arrival"] = seen[escalation_id]
                for stage, (start, end) in STAGES.items():
                    if start in at and end in at:
                        split[stage].append((at[end] - at[start]) * 1000)
            else:
                lost += 1
                missing.append(index)
    if missing:
        print(f"  lost escalations (index in the run): {sorted(set(missing))[:40]}", flush=True)
    return latencies, lost, count * n_clients, producer_ms, split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="escalations per scenario")
    parser.add_argument("--rate", type=float, default=20.0, help="escalations per second")
    parser.add_argument("--quick", action="store_true", help="100 escalations per scenario")
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--clients", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        port, cookie_file, out = args.clients
        asyncio.run(_clients(int(port), json.loads(Path(cookie_file).read_text()), Path(out)))
        return 0
    if args.quick:
        args.count = 100
    print(f"fresh database {DB_NAME}, migrating ...", flush=True)
    fresh_database()
    server = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-push-"))
    started = datetime.now(UTC)
    rows = []
    try:
        setup_django()
        stamps = clock_push_stages()
        world = seed_world(1, 50)
        port = free_port()
        server = start(
            [
                str(ROOT / ".venv/bin/uvicorn"),
                "autonomy.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            bench_env(),
            workdir / "uvicorn.log",
        )
        wait_for_port(port, server)
        print(f"uvicorn on 127.0.0.1:{port}; logs in {workdir}", flush=True)
        # Warm-up, and a probe: escalations from the very moment the socket is open.
        _, early_lost, early_expected, _, _ = scenario(
            port, world, 1, 40, args.rate, workdir, 0.0, stamps
        )
        print(f"right after connecting: {early_lost} of {early_expected} lost", flush=True)
        goals = {1: 10.0, 50: 100.0}
        for n_clients in (1, 50):
            latencies, lost, expected, producer_ms, split = scenario(
                port, world, n_clients, args.count, args.rate, workdir, SETTLE, stamps
            )
            row = {
                "clients": n_clients,
                "expected": expected,
                "delivered": len(latencies),
                "lost": lost,
                "p50": percentile(latencies, 0.50) if latencies else float("nan"),
                "p99": percentile(latencies, 0.99) if latencies else float("nan"),
                "max": max(latencies) if latencies else float("nan"),
                "producer_p50": percentile(producer_ms, 0.5),
                "goal": goals[n_clients],
                "split": {
                    stage: (percentile(ms, 0.5), percentile(ms, 0.99))
                    for stage, ms in split.items()
                    if ms
                },
            }
            rows.append(row)
            print(
                f"{n_clients:>2} supervisor(s): {row['delivered']}/{expected} delivered, "
                f"lost {lost}, "
                f"p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms, max {row['max']:.1f} ms",
                flush=True,
            )
            for stage, (p50, p99) in row["split"].items():
                print(f"    {stage:<38} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms", flush=True)
    finally:
        stop(server)
        drop_database()
    section = render(rows, args, started, early_lost, early_expected)
    print()
    print(section)
    if args.record:
        record_section(section, START_MARK, END_MARK)
        print("\nrecorded in bench/RESULTS.md")
    return 0


def render(rows: list[dict], args, started: datetime, early_lost: int, early_expected: int) -> str:
    lines = [
        "## Escalation push: `bench/push`",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}, with `bench/push --record`"
        f" ({args.count} escalations per scenario at {args.rate:g}/s).",
        "uvicorn autonomy.asgi:application (1 process, DEBUG=false), PostgreSQL, Redis with "
        "channels_redis.pubsub.RedisPubSubChannelLayer; clients: `websockets` in a separate "
        "process, one socket per supervisor session. Latency = arrival of `escalation.new` on "
        "the client - the moment the escalation's transaction committed (time.monotonic(), "
        "one clock for every process). The push path measured is the product's "
        "(workflows.live): on commit, render the inbox row of the escalation just written, "
        "publish it to its 3 groups in one Redis pipeline; the server's async consumer "
        "relays it.",
        "",
        "| supervisors | escalations/s | deliveries | lost | p50 ms | p99 ms | max ms "
        "| producer ms per escalation (p50) | goal p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clients']} | {args.rate:g} | {r['delivered']:,}/{r['expected']:,} "
            f"| {r['lost']} "
            f"| {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | {r['producer_p50']:.1f} "
            f"| <= {r['goal']:g} ms |"
        )
    lines += ["", "Goals (issue #4):", ""]
    for r in rows:
        ok = r["p99"] <= r["goal"]
        lines.append(
            f"- [{'x' if ok else ' '}] {r['clients']} supervisor(s) at {args.rate:g} "
            f"escalations/s: "
            f"p99 <= {r['goal']:g} ms: {r['p99']:.2f} ms"
        )
    lost = sum(r["lost"] for r in rows)
    lines.append(
        f"- [{'x' if lost == 0 else ' '}] nothing lost (producing {SETTLE:g} s after the "
        f"sockets opened): {lost} lost"
    )
    lines += [
        "",
        "Where the time goes: stamps around workflows.live's own steps in the producing "
        "process (bench/push_bench.clock_push_stages), on the clients' clock; p50 / p99 of each "
        "stage (p99s do not add up):",
        "",
        "| stage | " + " | ".join(f"{r['clients']} supervisor(s) ms" for r in rows) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for stage in STAGES:
        cells = [
            "{:.2f} / {:.2f}".format(*r["split"][stage]) if stage in r["split"] else "-"
            for r in rows
        ]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Right after connecting (1 supervisor, producing the moment the handshake completed, "
        f"{early_expected} escalations at {args.rate:g}/s, the first socket of the unit's group in "
        f"the server process): {early_lost} of {early_expected} lost"
        + ("." if early_lost == 0 else " (see the lost indices printed by the run)."),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
