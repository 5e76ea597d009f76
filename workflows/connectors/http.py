"""The `http` connector (a REST call templated from the payload) and the HTTP transport that
the webhook connector and the agents' callbacks share.

Transport (`send`), stdlib only (http.client; httpx is not installed): the host must pass
the allow-list, and every address it resolves to must be public unless the connector says
`allow_private_hosts`; the socket then connects to one of those checked addresses (so a
second DNS answer cannot swap in another target). Failures are classified by phase: before
anything is sent (resolution, connect, TLS) the call is temporary; once sending started,
an error or a read timeout leaves the outcome unknown.

Config of an `http` connector: `url` (template; placeholders only in path and query),
`method` (POST), `body` (a JSON template; default: the payload itself, none for GET),
`headers` (not secret), `connect_timeout_seconds` (5), `timeout_seconds` (15, the read
timeout), `allowed_hosts` (host names, "*.example.com" for subdomains; empty: any public
host), `allow_private_hosts` (false). Secrets: `headers` (e.g. Authorization).
"""

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote, urlsplit

from workflows.connectors.base import BaseConnector, ConnectorError, Result, excerpt, fill

__all__ = [
    "HttpConnector",
    "Response",
    "UrlConnector",
    "check_url",
    "result_of",
    "send",
    "transport_options",
]

MAX_BODY_BYTES = 64 * 1024
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Statuses that mean "not now": the request was not acted on and may be sent again.
TEMPORARY_STATUSES = frozenset({408, 425, 429})
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str


def check_url(url: str) -> str:
    """Why `url` (or a URL template) cannot be called, or "" when it can."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"Not a URL: {exc}."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The URL must start with http:// or https:// and name a host."
    if "{" in parts.netloc or "}" in parts.netloc:
        return "Placeholders may appear in the URL's path and query, not in its host."
    if parts.username or parts.password:
        return "Put credentials in secret headers, not in the URL."
    return ""


def _host_allowed(host: str, allowed_hosts) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        entry = str(entry).lower().rstrip(".")
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def _resolve(host: str, port: int, *, allow_private: bool) -> list[tuple]:
    """The host's addresses, all of them checked: one private address refuses the host."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConnectorError(f"Cannot resolve {host}: {exc}.") from exc
    if not allow_private:
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            mapped = getattr(address, "ipv4_mapped", None)
            address = mapped or address
            if not address.is_global or address.is_multicast:
                raise ConnectorError(
                    f"Refused: {host} resolves to {address}, a loopback, private or "
                    "link-local address (the connector does not allow private hosts).",
                    permanent=True,
                )
    return infos


def _connect(host: str, infos: list[tuple], timeout: float) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise ConnectorError(f"Could not connect to {host}: {last}.")


def _tls(sock: socket.socket, host: str) -> socket.socket:
    try:
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectorError(
            f"TLS certificate of {host} not trusted: {exc.verify_message}.", permanent=True
        ) from exc
    except OSError as exc:
        sock.close()
        raise ConnectorError(f"TLS handshake with {host} failed: {exc}.") from exc


def transport_options(config: dict) -> dict:
    """The transport settings a connector's config gives (timeouts, host rules)."""
    return {
        "connect_timeout": float(config.get("connect_timeout_seconds") or DEFAULT_CONNECT_TIMEOUT),
        "read_timeout": float(config.get("timeout_seconds") or DEFAULT_READ_TIMEOUT),
        "allow_private": bool(config.get("allow_private_hosts", False)),
        "allowed_hosts": list(config.get("allowed_hosts") or []),
    }


def send(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    allow_private: bool = False,
    allowed_hosts=(),
) -> Response:
    """Send one HTTP request and read (the start of) its response; raise ConnectorError
    classified by phase (see the module docstring). Never follows redirects."""
    problem = check_url(url)
    if problem:
        raise ConnectorError(problem, permanent=True)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allowed_hosts and not _host_allowed(host, allowed_hosts):
        raise ConnectorError(f"Refused: {host} is not on the connector's allowed hosts.", True)
    secure = parts.scheme == "https"
    default_port = 443 if secure else 80
    port = parts.port or default_port
    infos = _resolve(host, port, allow_private=allow_private)
    sock = _connect(host, infos, connect_timeout)
    if secure:
        sock = _tls(sock, host)
    sock.settimeout(read_timeout)
    connection = http.client.HTTPConnection(host, port)
    connection.sock = sock  # already connected (and checked); http.client only writes to it
    shown_host = f"[{host}]" if ":" in host else host
    headers = {
        "Host": shown_host if port == default_port else f"{shown_host}:{port}",
        "User-Agent": "AutonomyOS-connector/1",
        **headers,
    }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
        except TimeoutError as exc:
            raise ConnectorError(
                f"No answer from {host} within {read_timeout:g}s after the request was sent.",
                unknown_outcome=True,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectorError(
                f"The connection to {host} failed after the request was sent: {exc!r}.",
                unknown_outcome=True,
            ) from exc
        try:
            data = answer.read(MAX_BODY_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            data = f"(the response body could not be read: {exc!r})".encode()
        return Response(answer.status, data, answer.getheader("Content-Type") or "")
    finally:
        connection.close()


def result_of(response: Response) -> Result:
    """A 2xx response as a Result (with its JSON, if any); otherwise raise: 408/425/429 and
    5xx are temporary, any other status permanent (redirects are not followed)."""
    text = excerpt(response.body)
    status = response.status
    if 200 <= status < 300:
        data = None
        if "json" in response.content_type.lower():
            try:
                data = json.loads(response.body)
            except ValueError:
                data = None
        return Result(status, text, data)
    temporary = status in TEMPORARY_STATUSES or status >= 500
    raise ConnectorError(
        f"The system of record answered {status}.",
        permanent=not temporary,
        status_code=status,
        excerpt=text,
    )


def _string_map_errors(value, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return [f"{name} must map header names to text values."]
    return []


class UrlConnector(BaseConnector):
    """A connector that calls the URL of its config through `send()`: how that URL is
    checked and how long one call may take."""

    url_placeholders = True  # whether config.url may hold {payload...} placeholders

    @classmethod
    def url_errors(cls, config: dict) -> list[str]:
        """What is wrong with config.url (empty when it can be called)."""
        url = config.get("url")
        if not isinstance(url, str) or not url:
            return ["config.url is required."]
        if not cls.url_placeholders and "{" in url:
            return ["config.url is a fixed URL (no placeholders)."]
        if problem := check_url(url):
            return [f"config.url: {problem}"]
        return []

    def call_budget_seconds(self) -> float:
        options = transport_options(self.config)
        return options["connect_timeout"] + options["read_timeout"] + 10.0


class HttpConnector(UrlConnector):
    """A REST call built from the action's payload (see the module docstring)."""

    kind = "http"

    @classmethod
    def config_errors(cls, config: dict, secrets: dict) -> list[str]:
        errors = cls.url_errors(config)
        if str(config.get("method", "POST")).upper() not in METHODS:
            errors.append(f"config.method must be one of {', '.join(METHODS)}.")
        errors += _string_map_errors(config.get("headers"), "config.headers")
        errors += _string_map_errors(secrets.get("headers"), "secrets.headers")
        for name in ("connect_timeout_seconds", "timeout_seconds"):
            value = config.get(name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                errors.append(f"config.{name} must be a positive number of seconds.")
        if not isinstance(config.get("allowed_hosts", []), list):
            errors.append("config.allowed_hosts must be a list of host names.")
        return errors

    @property
    def method(self) -> str:
        return str(self.config.get("method", "POST")).upper()

    def describe(self) -> str:
        return f"{self.method} {self.config.get('url', '')}"[:500]

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        problems = self.config_errors(self.config, self.secrets)
        if problems:
            raise ConnectorError("Connector misconfigured: " + " ".join(problems), permanent=True)
        url = fill(self.config["url"], payload, quote=partial(quote, safe=""))
        if "body" in self.config:
            value = fill(self.config["body"], payload)
        else:
            value = None if self.method == "GET" else payload
        body = None if value is None else json.dumps(value).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers |= self.config.get("headers") or {}
        headers |= self.secrets.get("headers") or {}
        headers["Idempotency-Key"] = idempotency_key
        response = send(
            self.method, url, body=body, headers=headers, **transport_options(self.config)
        )
        return result_of(response)
