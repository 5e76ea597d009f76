"""A small simulated workforce: the demo's active agents call the public REST API.

Each agent is a separate client with its own API key (issued at start, the previous
workforce keys revoked), submitting a realistic mix of actions for its role at a gentle
rate over real HTTP, so a supervisor who signs in sees escalations arrive live.
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

WORKFORCE_KEY = "workforce"

# role slug -> [(weight, action, payload factory)]
MIX = {
    "procurement-buyer": [
        (
            6,
            "erp.purchase_order.create",
            lambda r: {
                "supplier": r.choice(["Acme", "Globex", "Initech", "Umbrella"]),
                "amount": round(
                    r.choice(
                        [r.uniform(50, 4000)] * 4 + [r.uniform(5000, 40000), r.uniform(1e5, 3e5)]
                    ),
                    2,
                ),
                "currency": r.choice(["EUR", "USD"]),
            },
        ),
        (
            2,
            "erp.purchase_order.update",
            lambda r: {
                "po_number": f"PO-{r.randint(1000, 9999)}",
                "amount": round(r.uniform(100, 9000), 2),
            },
        ),
        (2, "erp.supplier.read", lambda r: {"supplier": r.choice(["Acme", "Globex"])}),
    ],
    "support-responder": [
        (
            6,
            "crm.ticket.update",
            lambda r: {
                "ticket_id": f"T-{r.randint(100, 999)}",
                "status": r.choice(["pending", "solved"]),
                "reply": "Thanks for your patience, this is sorted now.",
            },
        ),
        (
            3,
            "payments.refund.create",
            lambda r: {
                "customer_id": f"C-{r.randint(100, 999)}",
                "amount": round(r.choice([r.uniform(5, 45)] * 2 + [r.uniform(60, 400)]), 2),
                "iban": f"DE{r.randint(10**19, 10**20 - 1)}",
                "currency": "EUR",
            },
        ),
    ],
    "finance-reconciler": [
        (
            6,
            "erp.invoice.match",
            lambda r: {
                "invoice_id": f"INV-{r.randint(1000, 9999)}",
                "payment_id": f"PAY-{r.randint(1000, 9999)}",
            },
        ),
        (
            1,
            "ledger.journal.post",
            lambda r: {
                "account": f"4{r.randint(100, 999)}",
                "amount": round(r.uniform(100, 9000), 2),
                "memo": "Month-end accrual",
            },
        ),
    ],
    "demand-forecaster": [
        (
            5,
            "analytics.forecast.publish",
            lambda r: {
                "sku": f"SKU-{r.randint(100, 999)}",
                "horizon_days": r.choice([7, 30, 90]),
                "quantity": round(r.choice([r.uniform(10, 5000)] * 3 + [r.uniform(1e4, 5e4)]), 1),
            },
        ),
    ],
}


def choose(rng: random.Random, role: str) -> tuple[str, dict]:
    """A weighted random action and payload for an agent of `role`."""
    options = MIX.get(role) or MIX["procurement-buyer"]
    weights = [weight for weight, _, _ in options]
    _, action, payload = rng.choices(options, weights=weights)[0]
    return action, payload(rng)


class Command(BaseCommand):
    help = "Run simulated agents that submit actions through the REST API until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the base URL of Autonomy OS"
        )
        parser.add_argument(
            "--interval", type=float, default=6.0, help="mean seconds between one agent's actions"
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
            done = 0
            while not stop.is_set() and (count == 0 or done < count):
                action, payload = choose(rng, agent.role.slug)
                status = self._submit(url, keys[agent.slug], action, payload)
                with lock:
                    tally[status] = tally.get(status, 0) + 1
                done += 1
                if count == 0 or done < count:
                    stop.wait(rng.expovariate(1 / interval) if interval > 0 else 0)

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
