"""The `email` connector: one message per action through Django's mail backend.

Config: `to` (a list of addresses, each may be a "{payload.field}" template), `subject`
and `body` (templates; defaults: the action's name and the payload as JSON), `from_email`
(default DEFAULT_FROM_EMAIL). The Message-ID is built from the action id, the same on every
retry, so mail systems can recognise a repeat.
"""

import json
import smtplib
from contextlib import suppress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from workflows.connectors.base import BaseConnector, ConnectorError, Result, fill

__all__ = ["EmailConnector"]

# Refusals that no retry can change (the server said no to this message).
PERMANENT_SMTP = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPNotSupportedError,
)


class EmailConnector(BaseConnector):
    """Sends one email per action (see the module docstring)."""

    kind = "email"

    @classmethod
    def config_errors(cls, config: dict, secrets: dict) -> list[str]:
        to = config.get("to")
        if not isinstance(to, list) or not to or not all(isinstance(a, str) for a in to):
            return ["config.to must be a list of one or more addresses."]
        return []

    def describe(self) -> str:
        return f"email to {', '.join(map(str, self.config.get('to') or []))}"[:500]

    def _recipients(self, payload: dict) -> list[str]:
        recipients = [str(fill(address, payload)) for address in self.config["to"]]
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ConnectorError(f"Not an email address: {address!r}.", True) from exc
        return recipients

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        problems = self.config_errors(self.config, self.secrets)
        if problems:
            raise ConnectorError("Connector misconfigured: " + " ".join(problems), permanent=True)
        recipients = self._recipients(payload)
        subject = str(fill(self.config.get("subject", action.action_type.name), payload))
        default_body = json.dumps(payload, indent=2, sort_keys=True)
        body = str(fill(self.config.get("body", default_body), payload))
        message = EmailMessage(
            subject=subject.replace("\n", " ")[:250],
            body=body,
            from_email=self.config.get("from_email") or settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            headers={"Message-ID": f"<{idempotency_key}@autonomy-os>"},
        )
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectorError(f"The mail server refused our login: {exc}.", True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectorError(f"Could not reach the mail server: {exc!r}.") from exc
        try:
            connection.send_messages([message])
        except PERMANENT_SMTP as exc:
            raise ConnectorError(f"The mail server refused the message: {exc}.", True) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx: "try again later"; 5xx: refused for good.
            raise ConnectorError(
                f"The mail server answered {exc.smtp_code}.", permanent=exc.smtp_code >= 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # The session broke midway: the message may or may not have been accepted.
            raise ConnectorError(
                f"The mail session failed midway: {exc!r}.", unknown_outcome=True
            ) from exc
        finally:
            with suppress(smtplib.SMTPException, OSError):
                connection.close()
        return Result(excerpt=f"sent to {len(recipients)} recipient(s)", data={"sent": True})
