"""A small simulated workforce: the demo's active agents call the public REST API.

Each agent is a separate client with its own API key (issued at start, the previous
workforce keys revoked), submitting a realistic mix of actions for its role at a gentle
rate over real HTTP, so a supervisor who signs in sees escalations arrive live: most
actions allowed, approvals where a policy asks for one (large amounts, new suppliers),
denials rare.
"""

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from agents import services
from agents.models import Agent, AgentAPIKey, AgentState
from autonomy.demo import APPROVED_SUPPLIERS

WORKFORCE_KEY = "workforce"
# Mean seconds between one agent's actions (run_workforce --interval).
INTERVAL = 10.0
# Every action of a supervised (L1) agent waits for a person, so its owner gives it a trial
# share of the work: it acts this many times less often than its guarded colleagues.
SUPERVISED_SLOWDOWN = 4
NEW_SUPPLIERS = ["Hooli", "Vandelay Industries", "Soylent"]


def _order_amount(r: random.Random) -> float:
    """Mostly routine orders; about one in ten above the 5,000 approval threshold and one in
    a hundred above the 100,000 the COE denies."""
    roll = r.random()
    if roll < 0.01:
        return round(r.uniform(100_000, 200_000), 2)
    if roll < 0.10:
        return round(r.uniform(5_000, 60_000), 2)
    return round(r.uniform(50, 4_800), 2)


def _order(r: random.Random) -> dict:
    """A purchase order, one in twenty to a supplier Procurement has not vetted."""
    suppliers = NEW_SUPPLIERS if r.random() < 0.05 else APPROVED_SUPPLIERS
    return {
        "supplier": r.choice(suppliers),
        "amount": _order_amount(r),
        "currency": r.choice(["EUR", "USD"]),
    }


def _amendment(r: random.Random) -> dict:
    return {"po_number": f"PO-{r.randint(1000, 9999)}", "amount": _order_amount(r)}


def _ticket(r: random.Random) -> dict:
    return {
        "ticket_id": f"T-{r.randint(100, 999)}",
        "status": r.choice(["pending", "solved"]),
        "reply": "Thanks for your patience, this is sorted now.",
    }


def _refund(r: random.Random) -> dict:
    """A refund, about one in seven above the 50 that needs a supervisor."""
    small = r.random() < 0.85
    return {
        "customer_id": f"C-{r.randint(100, 999)}",
        "amount": round(r.uniform(5, 48) if small else r.uniform(60, 400), 2),
        "iban": f"DE{r.randint(10**19, 10**20 - 1)}",
        "currency": "EUR",
    }


def _match(r: random.Random) -> dict:
    return {
        "invoice_id": f"INV-{r.randint(1000, 9999)}",
        "payment_id": f"PAY-{r.randint(1000, 9999)}",
    }


def _journal(r: random.Random) -> dict:
    """A journal posting, one in four above the 1,000 a controller approves."""
    small = r.random() < 0.75
    return {
        "account": f"4{r.randint(100, 999)}",
        "amount": round(r.uniform(100, 1_000) if small else r.uniform(1_000, 9_000), 2),
        "memo": "Month-end accrual",
    }


def _forecast(r: random.Random) -> dict:
    """A forecast, one in ten above the 10,000 units Finance reviews."""
    large = r.random() < 0.10
    return {
        "sku": f"SKU-{r.randint(100, 999)}",
        "horizon_days": r.choice([7, 30, 90]),
        "quantity": round(r.uniform(10_000, 50_000) if large else r.uniform(10, 5_000), 1),
    }


# role slug -> [(weight, action, payload factory)]
MIX = {
    "procurement-buyer": [
        (6, "erp.purchase_order.create", _order),
        (2, "erp.purchase_order.update", _amendment),
        (2, "erp.supplier.read", lambda r: {"supplier": r.choice(APPROVED_SUPPLIERS[:2])}),
    ],
    "support-responder": [
        (6, "crm.ticket.update", _ticket),
        (3, "payments.refund.create", _refund),
    ],
    "finance-reconciler": [
        (6, "erp.invoice.match", _match),
        (2, "ledger.journal.post", _journal),
    ],
    "demand-forecaster": [(5, "analytics.forecast.publish", _forecast)],
}


def choose(rng: random.Random, role: str) -> tuple[str, dict]:
    """A weighted random action and payload for an agent of `role`."""
    options = MIX.get(role) or MIX["procurement-buyer"]
    weights = [weight for weight, _, _ in options]
    _, action, payload = rng.choices(options, weights=weights)[0]
    return action, payload(rng)


def mean_interval(agent: Agent, interval: float) -> float:
    """Mean seconds between `agent`'s actions: `interval`, SUPERVISED_SLOWDOWN times
    longer for an L1 agent."""
    return interval * SUPERVISED_SLOWDOWN if agent.autonomy_level == 1 else interval


class Command(BaseCommand):
    help = "Run simulated agents that submit actions through the REST API until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the base URL of Autonomy OS"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=INTERVAL,
            help="mean seconds between one agent's actions (L1 agents: SUPERVISED_SLOWDOWN times)",
        )
        parser.add_argument(
            "--count",
            type=int,
            default=0,
            help="stop after this many actions per agent (0: run until stopped)",
        )
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, interval, count, seed, **options):
        agents = list(
            Agent.objects.filter(state=AgentState.ACTIVE, role__slug__in=MIX.keys())
            .select_related("role")
            .order_by("slug")
        )
        if not agents:
            self.stderr.write("No active demo agents: run `manage.py seed_demo` first.")
            return
        keys = {agent.slug: self._fresh_key(agent) for agent in agents}
        close_old_connections()
        stop = threading.Event()
        tally: dict[int, int] = {}
        lock = threading.Lock()

        def work(agent: Agent, rng: random.Random) -> None:
            done, mean = 0, mean_interval(agent, interval)
            while not stop.is_set() and (count == 0 or done < count):
                action, payload = choose(rng, agent.role.slug)
                status = self._submit(url, keys[agent.slug], action, payload)
                with lock:
                    tally[status] = tally.get(status, 0) + 1
                done += 1
                if count == 0 or done < count:
                    stop.wait(rng.expovariate(1 / mean) if mean > 0 else 0)

        base = random.Random(seed)  # noqa: S311 - simulated traffic, not security
        threads = [
            threading.Thread(target=work, args=(agent, random.Random(base.random())), daemon=True)  # noqa: S311
            for agent in agents
        ]
        self.stdout.write(f"Workforce: {len(agents)} agents calling {url}/api/v1/actions/")
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                time.sleep(0.5)
        except KeyboardInterrupt:
            stop.set()
        self.stdout.write(f"Workforce answers by HTTP status: {dict(sorted(tally.items()))}")

    def _fresh_key(self, agent: Agent) -> str:
        """A new key for this run; the previous runs' workforce keys are revoked."""
        for old in AgentAPIKey.objects.filter(agent=agent, name=WORKFORCE_KEY, revoked=False):
            services.revoke_key(agent.owner, old)
        _, secret = services.issue_key(agent.owner, agent, name=WORKFORCE_KEY)
        return secret

    def _submit(self, url: str, secret: str, action: str, payload: dict) -> int:
        """POST one action; the HTTP status (0 when the server could not be reached)."""
        body = json.dumps(
            {"action": action, "payload": payload, "reason": "Simulated workforce"}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's own server
            f"{url.rstrip('/')}/api/v1/actions/",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0
