"""Governed-action benchmark: POST /api/v1/actions/ over real HTTP in the production layout.

Run with `bench/actions` (options: --duration S, --reps N, --agents N, --quick, --record).
It creates a fresh PostgreSQL database (autonomy_bench), migrates it, seeds one business
unit, a buyer role, N active agents with keys, a purchase-order action type (JSON Schema,
sandbox connector, an approval queue) and a published COE policy deciding by amount:
<= 1,000 allow, > 1,000 require_approval, > 50,000 deny. The load sends amounts 100 (7 of
10 requests), 5,000 (2 of 10) and 60,000 (1 of 10): about 70% allow, 20% approval, 10% deny.
No limits, no kill switches.

Servers (loopback only): gunicorn as in autonomy/gunicorn_conf.py (gthread, 2 workers, 4
threads, CONN_MAX_AGE=60, DEBUG=false, Redis db 14) and a real Celery worker (prefork, 2
processes) executing the allowed actions through the sandbox connector. On the SAME server,
with AUTONOMY_BENCH_ENDPOINTS=true, two baselines (autonomy/bench_views.py):
  (i)  plain     POST /bench/plain/       a Django view returning a fixed JSON document
  (ii) one_insert POST /bench/one-insert/ DRF, the agent's key authenticated exactly like
       the gateway (AgentKeyAuthentication + IsAgent), one AuditEntry inserted with
       governance.ledger.record (autocommit)
  (iii) governed POST /api/v1/actions/    the gateway (Bearer key, Idempotency-Key)
Every variant gets the same headers and body. wrk (1 thread, Lua script) keeps c
connections busy; each request carries a unique Idempotency-Key (run, thread, counter)
and the key of the next agent in rotation. Variants are interleaved (i, ii, iii, i, ...)
at 1, 16 and 64 connections; figures are medians over repetitions. Then 256 connections
on the gateway check for 5xx and connection errors. The load generator, both servers,
the worker, PostgreSQL and Redis all share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
START_MARK = "<!-- bench/actions:start -->"
END_MARK = "<!-- bench/actions:end -->"
# AUTONOMY_BENCH_DATABASE / AUTONOMY_BENCH_REDIS_URL let two benchmarks run side by side.
DB_NAME = os.environ.get("AUTONOMY_BENCH_DATABASE", "autonomy_bench")
BENCH_REDIS_URL = os.environ.get("AUTONOMY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
ACTION = "erp.purchase_order.create"
VARIANTS = {
    "plain": "/bench/plain/",
    "one_insert": "/bench/one-insert/",
    "governed": "/api/v1/actions/",
}


def bench_env(**extra: str) -> dict[str, str]:
    """The production-like environment both benchmarks run the servers with."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="autonomy.settings",
        DEBUG="false",
        SECRET_KEY="bench-only-" + "k" * 48,
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        REDIS_URL=BENCH_REDIS_URL,
        SECURE_SSL_REDIRECT="false",
        CELERY_TASK_ALWAYS_EAGER="false",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def fresh_database() -> None:
    """Drop and create autonomy_bench, empty Redis db 14, migrate."""
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
    )


def drop_database() -> None:
    import psycopg
    import redis
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


def setup_django() -> None:
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed_world(n_agents: int, n_supervisors: int = 0) -> dict:
    """One unit, its queue, N active agents with keys, supervisors, the amount policy.

    Built through the product's service functions (tests/factories.py helpers)."""
    from agents import services as agent_services
    from governance import policies
    from governance import services as governance_services
    from governance.models import MemberRole
    from tests import factories
    from workflows.models import ActionType, Queue

    unit = factories.make_unit("bench")
    role = factories.make_role("buyer", ("erp.purchase_order.*",))
    coe = factories.make_user("coe", is_staff=True, is_superuser=True)
    governance_services.make_coe(factories.SYSTEM, coe)
    builder = factories.make_user("builder")
    governance_services.add_membership(factories.SYSTEM, builder, unit, MemberRole.BUILDER)
    supervisors = []
    for i in range(n_supervisors):
        user = factories.make_user(f"supervisor-{i:03d}")
        governance_services.add_membership(factories.SYSTEM, user, unit, MemberRole.SUPERVISOR)
        supervisors.append(user)
    queue = Queue.objects.create(slug="approvals-bench", name="Bench approvals", business_unit=unit)
    schema = {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "supplier": {"type": "string", "minLength": 1},
        },
        "required": ["amount"],
        "additionalProperties": False,
    }
    ActionType.objects.create(name=ACTION, payload_schema=schema, approval_queue=queue)
    policy = policies.create_policy(coe, "baseline", "Baseline")
    draft = policy.versions.get()
    for rule in [
        dict(
            name="small", action_pattern="*", condition="payload.amount <= 1000.0", effect="allow"
        ),
        dict(
            name="large",
            action_pattern="*",
            condition="payload.amount > 1000.0",
            effect="require_approval",
            route="approvals-bench",
            sla_seconds=3600,
        ),
        dict(
            name="huge",
            action_pattern="*",
            condition="payload.amount > 50000.0",
            effect="deny",
            reason="Too large.",
        ),
    ]:
        policies.add_rule(coe, draft, **rule)
    policies.publish(coe, draft)
    agents, keys = [], []
    for i in range(n_agents):
        agent = factories.make_agent(builder, unit, role, f"agent-{i:03d}", approver=coe)
        _, key = agent_services.issue_key(builder, agent)
        agents.append(agent)
        keys.append(key)
    return {
        "unit": unit,
        "queue": queue,
        "agents": agents,
        "keys": keys,
        "supervisors": supervisors,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a child in its own process group (so stop() ends it and its children)."""
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


LUA = r"""
local keys = {%(keys)s}
local threads = {}
local counter = 0
local id = 0
local run = "r"
local path = "/"
local amounts = {100, 100, 5000, 100, 100, 60000, 100, 5000, 100, 100}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  run = args[1]
  path = args[2]
  n201, n202, n2xx, n403, n4xx, n5xx, nother = 0, 0, 0, 0, 0, 0, 0
end

function request()
  counter = counter + 1
  local key = keys[(counter + id) %% #keys + 1]
  local body = string.format(
    '{"action":"%(action)s","payload":{"amount":%%d,"supplier":"Acme"}}',
    amounts[counter %% 10 + 1])
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = string.format("%%s-%%d-%%d", run, id, counter),
  }, body)
end

function response(status, headers, body)
  if status == 201 then n201 = n201 + 1
  elseif status == 202 then n202 = n202 + 1
  elseif status >= 200 and status < 300 then n2xx = n2xx + 1
  elseif status == 403 then n403 = n403 + 1
  elseif status >= 400 and status < 500 then n4xx = n4xx + 1
  elseif status >= 500 then n5xx = n5xx + 1
  else nother = nother + 1 end
end

function done(summary, latency, requests)
  local c = {n201 = 0, n202 = 0, n2xx = 0, n403 = 0, n4xx = 0, n5xx = 0, nother = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"mean_us":%%.1f,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"non2xx":%%d,' ..
    '"s201":%%d,"s202":%%d,"s2xx":%%d,"s403":%%d,"s4xx":%%d,"s5xx":%%d,"sother":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status,
    c.n201, c.n202, c.n2xx, c.n403, c.n4xx, c.n5xx, c.nother))
end
"""


def write_lua(keys: list[str], directory: Path) -> Path:
    script = directory / "post.lua"
    quoted = ", ".join(f'"{key}"' for key in keys)
    script.write_text(LUA % {"keys": quoted, "action": ACTION})
    return script


def wait_for_worker(timeout: float = 60.0) -> float:
    """Seconds until no action is queued or executing (the worker caught up)."""
    from django.db import connections

    from workflows.models import ActionRequest, ActionState

    started = time.monotonic()
    busy = (ActionState.QUEUED, ActionState.EXECUTING)
    while time.monotonic() - started < timeout:
        if not ActionRequest.objects.filter(state__in=busy).exists():
            break
        time.sleep(0.1)
    connections.close_all()
    return time.monotonic() - started


def settle(port: int, timeout: float = 60.0) -> None:
    """Wait until the worker has executed what earlier runs queued and the server answers
    the plain view within 20 ms: work a run left behind (a slow variant at high
    concurrency) must not count against the next run."""
    import http.client

    wait_for_worker(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.monotonic()
        conn.request("POST", VARIANTS["plain"], body=b"{}")
        conn.getresponse().read()
        conn.close()
        if time.monotonic() - started < 0.02:
            return
        time.sleep(0.2)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used, with those of its children that
    ended and it reaped (PostgreSQL's postmaster reaps every backend, so a connection opened
    and closed between two snapshots still counts); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # utime, stime, cutime, cstime (proc(5) fields 14-17).
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(roots: dict[str, int]) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of each named process tree (a root pid and
    its descendants) and of every PostgreSQL server process ("postgres"), by pid."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        children.setdefault(int(rest.split()[1]), []).append(int(entry.name))
        names[int(entry.name)] = name
    used = {}
    for label, root in roots.items():
        tree, todo = [], [root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        used[label] = {pid: _process_cpu(pid) for pid in tree}
    used["postgres"] = {pid: _process_cpu(pid) for pid, name in names.items() if name == "postgres"}
    return used


def cpu_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each group used between two snapshots: processes that started in between
    count whole, those that ended in between through the parent that reaped them."""
    return {
        label: sum(seconds - before.get(label, {}).get(pid, 0.0) for pid, seconds in pids.items())
        for label, pids in after.items()
    }


def run_wrk(
    port: int,
    script: Path,
    variant: str,
    conns: int,
    seconds: float,
    tag: str,
    processes: dict[str, int] | None = None,
) -> dict:
    """One wrk run (once the server is idle); its counts, latency percentiles (ms),
    requests/s and, for `processes` (name -> root pid), the CPU ms each spent per request
    (a governed run's count includes the worker catching up)."""
    settle(port)
    before = cpu_snapshot(processes or {})
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        tag,
        VARIANTS[variant],
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    drain_s = wait_for_worker() if variant == "governed" else 0.0
    line = next(row for row in out.splitlines() if row.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    # Governed: the rate sustained until the worker has executed what was allowed (its
    # backlog counts), not only the rate of answers.
    result["drain_s"] = drain_s
    result["answers_rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6 + drain_s)
    used = cpu_between(before, cpu_snapshot(processes or {}))
    for label, seconds in used.items():
        result[f"cpu_{label}"] = 1000 * seconds / max(1, result["requests"])
    result["p50"] = result["p50_us"] / 1000
    result["p99"] = result["p99_us"] / 1000
    result["conn_errors"] = result["connect"] + result["read"] + result["write"] + result["timeout"]
    return result


# Per-request CPU columns run_wrk adds, in the order the table shows them.
CPU_FIELDS = ("cpu_web", "cpu_worker", "cpu_postgres")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python, kernel = platform.python_version(), platform.release()
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPU ({cpu}), Python {python}, Linux {kernel}; load average "
        f"{load:.1f} at the end (other work shares this machine)"
    )


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def median_of(runs: list[dict], field: str) -> float:
    return statistics.median(run[field] for run in runs)


def ratio(value: float, baseline: float) -> float:
    """value / baseline; NaN when the baseline served nothing (a stalled run)."""
    return value / baseline if baseline else float("nan")


def report(results: dict, check: dict, header: str) -> str:
    """The markdown section: the table, ratios and the goals of issue #4."""
    lines = [
        header,
        "",
        "| c | variant | req/s | answers/s | p50 ms | p99 ms | x plain | x one_insert "
        "| CPU ms/request: web, worker, PostgreSQL | statuses (sum over reps) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    med = {}
    for conns, by_variant in results.items():
        for variant, runs in by_variant.items():
            fields = ("rps", "answers_rps", "p50", "p99", *CPU_FIELDS)
            med[conns, variant] = {f: median_of(runs, f) for f in fields if f in runs[0]}
        for variant, runs in by_variant.items():
            m = med[conns, variant]
            statuses = {
                k: sum(r[k] for r in runs) for k in ("s201", "s202", "s403", "s4xx", "s5xx")
            }
            statuses["conn_err"] = sum(r["conn_errors"] for r in runs)
            if variant == "governed":
                statuses["worker caught up after (s)"] = round(max(r["drain_s"] for r in runs), 1)
            shown = ", ".join(
                f"{k[1:] if k.startswith('s') else k}: {v}" for k, v in statuses.items() if v
            )
            cpu = ", ".join(fmt(m[f], 1) for f in CPU_FIELDS if f in m)
            lines.append(
                f"| {conns} | {variant} | {fmt(m['rps'], 0)} | {fmt(m['answers_rps'], 0)} "
                f"| {fmt(m['p50'], 2)} | {fmt(m['p99'], 2)} "
                f"| {ratio(m['rps'], med[conns, 'plain']['rps']):.2f} "
                f"| {ratio(m['rps'], med[conns, 'one_insert']['rps']):.2f} | {cpu} | {shown} |"
            )
    lines.append(
        f"| 256 | governed | {fmt(check['rps'], 0)} | {fmt(check['answers_rps'], 0)} "
        f"| {fmt(check['p50'], 1)} | {fmt(check['p99'], 1)} "
        f"| | | | 201: {check['s201']}, 202: {check['s202']}, 403: {check['s403']}, other 4xx: "
        f"{check['s4xx']}, 5xx: {check['s5xx']}, connection errors: {check['conn_errors']} |"
    )
    top = max(results)
    gov, plain, one = med[top, "governed"], med[top, "plain"], med[top, "one_insert"]
    unloaded = med[1, "governed"]
    goals = [
        (
            ratio(gov["rps"], plain["rps"]) >= 0.40,
            f"throughput >= 40% of the plain view at c={top}: "
            f"{ratio(gov['rps'], plain['rps']):.0%}",
        ),
        (
            ratio(gov["rps"], one["rps"]) >= 0.8,
            f"throughput >= 0.8x the one-insert endpoint at c={top}: "
            f"{ratio(gov['rps'], one['rps']):.2f}x",
        ),
        (unloaded["p50"] <= 4.0, f"unloaded (c=1) p50 <= 4 ms: {unloaded['p50']:.2f} ms"),
        (unloaded["p99"] <= 8.0, f"unloaded (c=1) p99 <= 8 ms: {unloaded['p99']:.2f} ms"),
        (
            check["s5xx"] == 0 and check["conn_errors"] == 0,
            f"no 5xx and no connection errors at 256 connections: {check['s5xx']} 5xx, "
            f"{check['conn_errors']} connection errors",
        ),
    ]
    lines += ["", "Goals (issue #4):", ""]
    lines += [f"- [{'x' if ok else ' '}] {text}" for ok, text in goals]
    return "\n".join(lines)


def record_section(section: str, start_mark: str = START_MARK, end_mark: str = END_MARK) -> None:
    """Replace (or append) this benchmark's section of bench/RESULTS.md between its markers."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start_mark}\n{section}\n{end_mark}"
    if start_mark in text:
        before, rest = text.split(start_mark, 1)
        text = before + block + rest.split(end_mark, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 repetition")
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.reps = 3, 1
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    print("fresh database autonomy_bench, migrating ...", flush=True)
    fresh_database()
    setup_django()
    world = seed_world(args.agents)
    from django.db import connections

    connections.close_all()
    workdir = Path(tempfile.mkdtemp(prefix="bench-actions-"))
    script = write_lua(world["keys"], workdir)
    port = free_port()
    env = bench_env(
        CONN_MAX_AGE="60",
        WEB_WORKERS="2",
        WEB_THREADS="4",
        PORT=str(port),
        AUTONOMY_BENCH_ENDPOINTS="true",
    )
    server = worker = None
    started = datetime.now(UTC)
    try:
        server = start(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "autonomy.wsgi:application",
                "-c",
                "autonomy/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            env,
            workdir / "gunicorn.log",
        )
        worker = start(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "autonomy",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "bench@%h",
            ],
            env,
            workdir / "worker.log",
        )
        wait_for_port(port, server)
        processes = {"web": server.pid, "worker": worker.pid}
        print(f"gunicorn on 127.0.0.1:{port}, celery worker; logs in {workdir}", flush=True)
        for variant in VARIANTS:  # warm up every worker thread's connection and caches
            run_wrk(port, script, variant, 16, 2, f"warm-{variant}")
        results: dict[int, dict[str, list[dict]]] = {}
        order = list(VARIANTS)
        for conns in (1, 16, 64):
            results[conns] = {v: [] for v in VARIANTS}
            for rep in range(args.reps):
                for variant in order if rep % 2 == 0 else order[::-1]:
                    res = run_wrk(
                        port,
                        script,
                        variant,
                        conns,
                        args.duration,
                        f"c{conns}-{variant}-{rep}",
                        processes,
                    )
                    results[conns][variant].append(res)
                    print(
                        f"c={conns:<3} {variant:<10} rep {rep + 1}: {res['rps']:8.1f} req/s  "
                        f"p50 {res['p50']:7.2f} ms  p99 {res['p99']:7.2f} ms  "
                        f"201/202/403/4xx/5xx {res['s201']}/{res['s202']}/{res['s403']}/"
                        f"{res['s4xx']}/{res['s5xx']}"
                        f"  conn errors {res['conn_errors']}  CPU ms/request web "
                        f"{res['cpu_web']:.1f} worker {res['cpu_worker']:.1f} "
                        f"PostgreSQL {res['cpu_postgres']:.1f}",
                        flush=True,
                    )
        check = run_wrk(port, script, "governed", 256, args.duration, "c256")
        print(
            f"c=256 governed: {check['rps']:.1f} req/s, 5xx {check['s5xx']}, "
            f"conn errors {check['conn_errors']}"
        )
        executed = drain(world)
    finally:
        stop(server)
        stop(worker)
        drop_database()
    header = (
        "## Governed actions: `bench/actions`\n\n"
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}, with `bench/actions --record`"
        f" ({args.duration:g} s per run, {args.reps} interleaved repetition(s), medians;"
        f" {args.agents} agents).\n"
        "Production layout on loopback: gunicorn gthread 2 workers x 4 threads, "
        "CONN_MAX_AGE=60, DEBUG=false; PostgreSQL; Redis (broker, cache, channel layer); a "
        "Celery worker (prefork, 2) executing allowed actions through the sandbox connector; "
        "wrk 1 thread with a Lua script. Everything shares the same cores.\n"
        "Mix sent: 70% amount 100 (allow, 201), 20% amount 5,000 (require_approval, 202, an "
        "escalation pushed to the inbox), 10% amount 60,000 (deny, 403). Baselines on the same "
        "server: *plain* = Django view returning JSON; *one_insert* = DRF view authenticating "
        "the agent's key like the gateway and inserting one AuditEntry with "
        "governance.ledger.record. Each run starts once the worker has executed what earlier "
        "runs allowed and the server answers idle; a governed run's req/s is its requests "
        "over the run plus the time the worker needed afterwards to execute the allowed "
        "actions (the backlog counts), so it is the rate the whole system sustains; "
        "*answers/s* counts the run alone (what agents saw). *CPU ms/request*: CPU time "
        "(/proc) of gunicorn's processes, the Celery worker's processes and every PostgreSQL "
        "process, over the run and the worker's catch-up, per request answered."
    )
    section = report(results, check, header)
    section += f"\n\nAfter the load: {executed}"
    print()
    print(section)
    if args.record:
        record_section(section)
        print(f"\nrecorded in {RESULTS}")
    shutil.rmtree(workdir, ignore_errors=True)  # kept when the run failed: the server logs
    return 0


def drain(world: dict, timeout: float = 60.0) -> str:
    """Wait for the worker to execute the queued actions; say how far it got."""
    from django.db import connection
    from django.db.models import Count

    from workflows.models import ActionRequest, ActionState

    deadline = time.monotonic() + timeout
    while True:
        states = dict(ActionRequest.objects.values_list("state").annotate(n=Count("pk")).order_by())
        pending = states.get(ActionState.QUEUED, 0) + states.get(ActionState.EXECUTING, 0)
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    connection.close()
    total = sum(states.values())
    shown = ", ".join(f"{state} {count:,}" for state, count in sorted(states.items()))
    waited = (
        "" if pending == 0 else f" ({pending:,} still queued or executing after {timeout:.0f} s)"
    )
    return f"{total:,} actions recorded: {shown}{waited}."


if __name__ == "__main__":
    sys.exit(main())
