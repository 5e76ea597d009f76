"""A small ERP for the demo: the system of record the demo's http connector writes to.

POST /purchase-orders creates an order (idempotent by the Idempotency-Key header, as real
systems of record are asked to be), GET /purchase-orders lists them, and
GET /suppliers/<name> answers a supplier record with fields of several classifications
(a bank account, a nested contact, the supplier's open orders): the system of record of the
demo's governed read `erp.supplier.read`.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from autonomy.demo import SEED_ERP_PORT


class DemoERP:
    """The ERP's state: orders by idempotency key, behind a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, dict] = {}

    def create_order(self, key: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            if key and key in self.orders:
                return 200, self.orders[key]
            order = {
                "po_number": f"PO-{10000 + len(self.orders)}",
                "status": "created",
                "supplier": body.get("supplier", ""),
                "amount": body.get("amount"),
                "currency": body.get("currency", "EUR"),
            }
            self.orders[key or order["po_number"]] = order
            return 201, order

    def supplier(self, name: str) -> dict:
        """A supplier's record, with its orders placed through the demo."""
        with self.lock:
            orders = [o for o in self.orders.values() if o["supplier"].lower() == name.lower()]
        return {
            "name": name,
            "country": "DE",
            "rating": "A",
            "payment_terms_days": 30,
            "bank_account": "DE89370400440532013000",
            "contact": {"name": "Orders desk", "email": f"orders@{name.lower()}.example"},
            "open_orders": [
                {"po_number": o["po_number"], "status": o["status"], "amount": o["amount"]}
                for o in orders
            ],
        }


def handler_for(erp: DemoERP):
    """A request handler bound to one ERP's state."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/purchase-orders":
                with erp.lock:
                    self._send(200, list(erp.orders.values()))
            elif self.path.startswith("/suppliers/"):
                self._send(200, erp.supplier(unquote(self.path.removeprefix("/suppliers/"))))
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/purchase-orders":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": "invalid JSON"})
                return
            status, order = erp.create_order(self.headers.get("Idempotency-Key", ""), body)
            self._send(status, order)

        def log_message(self, format, *args):
            return

    return Handler


def bind(port: int) -> ThreadingHTTPServer:
    """A demo ERP bound to `port` on loopback (0: any free port), not yet serving.
    Raises OSError when the port cannot be had."""
    return ThreadingHTTPServer(("127.0.0.1", port), handler_for(DemoERP()))


class Command(BaseCommand):
    help = "Serve the demo ERP (the system of record of the demo's http connector)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=settings.AUTONOMY_DEMO_ERP_PORT or SEED_ERP_PORT,
            help="0: any free port",
        )

    def handle(self, *args, port, **options):
        try:
            server = bind(port)
        except OSError as exc:
            message = f"The demo ERP cannot listen on port {port}: {exc.strerror}."
            raise CommandError(message) from None
        self.stdout.write(f"Demo ERP on http://127.0.0.1:{server.server_address[1]}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
