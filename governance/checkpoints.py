"""Signed checkpoints of the ledger's chain, kept outside the database.

The hash chain shows any change that leaves later seals alone, but someone who can write
the database could cut off the newest entries with their seals, or rewrite an entry and
recompute every later seal, and the chain would still hold together. Transparency logs
close that gap with signed checkpoints; so does this module:

- After sealing, the sealer (governance.tasks.seal_ledger) signs the chain head (sequence,
  chain hash, time) with an Ed25519 key the database does not hold
  (AUTONOMY_LEDGER_CHECKPOINT_KEY or the key file AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE,
  generated there when neither exists) and appends it to a sink outside the database
  (AUTONOMY_LEDGER_CHECKPOINT_SINK: a JSON Lines file, or an HTTP endpoint that accepts a
  POST of each checkpoint and answers a GET with the latest one, 404 while there is none).
  It signs only a head that extends the latest checkpoint: the seal at the checkpoint's
  sequence still carries its chain hash and every seal after it links up.
- `verify_ledger` (and "Verify now") checks the latest checkpoint's signature, and that the
  chain still holds the checkpoint's sequence with the same chain hash.
"""

import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.utils import timezone

from governance.ledger import LedgerProblem, check_links_from
from governance.models import LedgerSeal

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointError",
    "FileSink",
    "HttpSink",
    "check_latest",
    "public_key",
    "publish",
    "signing_key",
    "sink",
]

FORMAT = "autonomy-ledger-checkpoint/1"
logger = logging.getLogger(__name__)


class CheckpointError(Exception):
    """The sink cannot be read or written, or holds something that is not a checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: at `time`, the chain's entry `seq` had this chain hash."""

    seq: int
    chain_hash: str
    time: str
    key_id: str
    signature: str

    @staticmethod
    def message(seq: int, chain_hash: str, time: str) -> bytes:
        """The bytes that are signed: the format, then one field per line."""
        return f"{FORMAT}\n{seq}\n{chain_hash}\n{time}\n".encode()

    def to_json(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data) -> "Checkpoint":
        try:
            if data.get("format") != FORMAT:
                raise CheckpointError(f"not a ledger checkpoint: format {data.get('format')!r}")
            return cls(
                seq=int(data["seq"]),
                chain_hash=str(data["chain_hash"]),
                time=str(data["time"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc!r}") from exc

    def verifies_with(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(
                base64.b64decode(self.signature, validate=True),
                self.message(self.seq, self.chain_hash, self.time),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def _load_private(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint key is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError("the checkpoint key must be an Ed25519 private key (PEM)")
    return key


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key: AUTONOMY_LEDGER_CHECKPOINT_KEY (PEM text), else the key
    file, created with a new key (readable by its owner only) when it does not exist."""
    text = getattr(settings, "AUTONOMY_LEDGER_CHECKPOINT_KEY", "")
    if text:
        return _load_private(text.encode())
    path = Path(settings.AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE)
    try:
        if not path.exists():
            _create_key_file(path)
        pem = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read or create the checkpoint key {path}: {exc}") from exc
    return _load_private(pem)


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless another process got there first (then keep theirs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint-key-")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(pem)
        os.chmod(staged, 0o600)
        with contextlib.suppress(FileExistsError):  # another process made one: keep theirs
            os.link(staged, path)
    finally:
        os.unlink(staged)


def public_key() -> Ed25519PublicKey:
    """The key checkpoints are verified with: AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY (PEM),
    so a verifier need not hold the signing key; else the signing key's own."""
    text = getattr(settings, "AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY", "")
    if not text:
        return signing_key().public_key()
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint public key is not PEM: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("the checkpoint public key must be an Ed25519 key (PEM)")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of sha256 over the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(seq: int, chain_hash: str, *, time: str | None = None) -> Checkpoint:
    """A checkpoint of (seq, chain_hash) signed now with the signing key."""
    key = signing_key()
    time = time or timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = key.sign(Checkpoint.message(seq, chain_hash, time))
    return Checkpoint(
        seq, chain_hash, time, key_id(key.public_key()), base64.b64encode(signature).decode()
    )


class FileSink:
    """Checkpoints appended to a JSON Lines file, one per line; the last line is the latest."""

    def __init__(self, path: str):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def publish(self, checkpoint: Checkpoint) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(checkpoint.to_json(), sort_keys=True) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(f"cannot append to {self.path}: {exc}") from exc

    def latest(self) -> Checkpoint | None:
        try:
            with open(self.path, "rb") as stream:
                last = _last_line(stream)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc}") from exc
        if last is None:
            return None
        try:
            return Checkpoint.from_json(json.loads(last))
        except ValueError as exc:
            raise CheckpointError(f"the last line of {self.path} is not JSON") from exc


def _last_line(stream, block: int = 4096) -> bytes | None:
    """The last non-empty line of a binary file, read from its end."""
    stream.seek(0, os.SEEK_END)
    position, tail = stream.tell(), b""
    while position > 0:
        step = min(block, position)
        position -= step
        stream.seek(position)
        tail = stream.read(step) + tail
        lines = [line for line in tail.splitlines() if line.strip()]
        if len(lines) > 1 or (lines and position == 0):
            return lines[-1]
    return None


class HttpSink:
    """An HTTP endpoint: POST stores a checkpoint, GET answers the latest (404: none yet).
    Only http(s) URLs reach it (`sink()`), so urllib opens nothing else."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url, self.timeout = url, timeout

    def __str__(self) -> str:
        return self.url

    def publish(self, checkpoint: Checkpoint) -> None:
        body = json.dumps(checkpoint.to_json(), sort_keys=True).encode()
        request = urllib.request.Request(  # noqa: S310
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):  # noqa: S310
                return
        except (urllib.error.URLError, OSError) as exc:
            raise CheckpointError(f"cannot publish to {self.url}: {exc}") from exc

    def latest(self) -> Checkpoint | None:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise CheckpointError(f"cannot read {self.url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise CheckpointError(f"cannot read {self.url}: {exc}") from exc
        except ValueError as exc:
            raise CheckpointError(f"{self.url} did not answer JSON") from exc
        return Checkpoint.from_json(data)


def sink() -> FileSink | HttpSink:
    """The configured sink: an http(s) URL, or a file path."""
    target = str(settings.AUTONOMY_LEDGER_CHECKPOINT_SINK)
    if target.startswith(("http://", "https://")):
        return HttpSink(target)
    return FileSink(target)


def _extension_problem(latest: Checkpoint) -> LedgerProblem | None:
    """Whether the chain still holds `latest` and everything after it links up to it."""
    seal = LedgerSeal.objects.filter(seq=latest.seq).first()
    if seal is None:
        head = LedgerSeal.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        return LedgerProblem(
            latest.seq,
            None,
            f"not in the chain, which ends at seq {head}, although a checkpoint signed at "
            f"{latest.time} holds it (the newest entries were removed)",
        )
    if seal.chain_hash != latest.chain_hash:
        return LedgerProblem(
            latest.seq,
            seal.entry_id,
            f"chain hash differs from the checkpoint signed at {latest.time} "
            "(entries up to here were rewritten, or removed and replaced)",
        )
    return None


def publish() -> Checkpoint | None:
    """Sign and publish a checkpoint of the chain head if the head moved past the latest
    checkpoint; returns it, or None when there is nothing new.

    Raises CheckpointError when the sink fails, and refuses (CheckpointError) to sign a
    head that does not extend the latest checkpoint: signing a rewritten chain would hide it.
    """
    head = LedgerSeal.objects.order_by("-seq").first()
    if head is None:
        return None
    target = sink()
    latest = target.latest()
    if latest is not None:
        if latest.seq >= head.seq and latest.chain_hash == head.chain_hash:
            return None
        problem = _extension_problem(latest)
        if problem is None:
            problem, _, _ = check_links_from(latest.seq + 1, latest.chain_hash)
        if problem is not None:
            raise CheckpointError(f"not signing the chain head: {problem}")
    checkpoint = sign(head.seq, head.chain_hash)
    target.publish(checkpoint)
    return checkpoint


@dataclass(frozen=True)
class CheckpointCheck:
    """What the latest checkpoint says about the chain: None problem means it agrees."""

    checkpoint: Checkpoint | None
    problem: LedgerProblem | None

    def summary(self) -> str:
        if self.checkpoint is None:
            return "no checkpoint published yet"
        return f"checkpoint seq {self.checkpoint.seq} signed at {self.checkpoint.time} holds"


def check_latest() -> CheckpointCheck:
    """Check the chain against the latest checkpoint in the sink (CheckpointError: the sink
    cannot be read). A checkpoint whose signature does not verify is itself a problem."""
    latest = sink().latest()
    if latest is None:
        return CheckpointCheck(None, None)
    if not latest.verifies_with(public_key()):
        reason = (
            f"the latest checkpoint (seq {latest.seq}, key {latest.key_id}) is not signed by "
            "the checkpoint key"
        )
        return CheckpointCheck(latest, LedgerProblem(None, None, reason))
    return CheckpointCheck(latest, _extension_problem(latest))
