"""The `webhook` connector: POST the action to a URL, signed with the Standard Webhooks scheme.

Config: `url`, plus the transport options of the http connector (timeouts, allowed_hosts,
allow_private_hosts). Secret: `signing_secret` ("whsec_" + base64), which the receiving
system uses to verify the `webhook-signature` header. The `webhook-id` is the action id,
the same on every retry, so the receiver can drop repeats. Body:
`{"type": <action name>, "timestamp": ..., "data": {"action_id": ..., "payload": ...}}`.
"""

import base64
import binascii
import json

from django.utils import timezone
from standardwebhooks import Webhook

from workflows.connectors.base import ConnectorError, Result
from workflows.connectors.http import UrlConnector, result_of, send, transport_options

__all__ = ["WebhookConnector", "signature_headers", "signing_secret_error"]


def signing_secret_error(secret) -> str:
    """Why `secret` cannot sign (or "" when it can): it must be "whsec_" + base64."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        return 'The signing secret must start with "whsec_".'
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return "The signing secret must be base64 after its whsec_ prefix."
    return "" if len(raw) >= 16 else "The signing secret must hold at least 16 bytes."


def signature_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for `body` (the exact text sent)."""
    now = timezone.now()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


class WebhookConnector(UrlConnector):
    """A signed POST of the action to one URL."""

    kind = "webhook"
    url_placeholders = False

    @classmethod
    def config_errors(cls, config: dict, secrets: dict) -> list[str]:
        errors = cls.url_errors(config)
        if problem := signing_secret_error(secrets.get("signing_secret")):
            errors.append(f"secrets.signing_secret: {problem}")
        return errors

    def describe(self) -> str:
        return f"POST {self.config.get('url', '')}"[:500]

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        problems = self.config_errors(self.config, self.secrets)
        if problems:
            raise ConnectorError("Connector misconfigured: " + " ".join(problems), permanent=True)
        body = json.dumps(
            {
                "type": action.action_type.name,
                "timestamp": timezone.now().isoformat(),
                "data": {"action_id": idempotency_key, "payload": payload},
            },
            separators=(",", ":"),
        )
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            **signature_headers(self.secrets["signing_secret"], idempotency_key, body),
        }
        response = send(
            "POST",
            self.config["url"],
            body=body.encode(),
            headers=headers,
            **transport_options(self.config),
        )
        return result_of(response)
