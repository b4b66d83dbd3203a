"""Places the audit trail is shipped to, off this box: syslog over TLS, a webhook, a file.

Every sink has one method, ``send(lines, *, topic="audit")``: deliver these messages,
in order, or raise ``SinkError``. A message is one line of text (no newline; JSON is
typical) so that it survives every transport unchanged; ``topic`` tells the receiver
what kind of message it is (``audit`` for OCSF events, ``checkpoint`` for signed
checkpoints). ``send`` returning means the receiver took the whole batch; callers
move their cursor only then, so a failure is retried, never lost.

Sinks are built from settings by ``configured_sinks()`` (see config/settings.py,
``SUNDOWN_SIEM_*``); secrets such as the webhook key come from the environment or a
``*_FILE`` mount and never enter the database.
"""

import hashlib
import hmac
import os
import random
import socket
import ssl
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SinkError(Exception):
    """A batch was not delivered; ``permanent`` when retrying the same batch cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Sink(Protocol):
    name: str

    def send(self, lines: Sequence[str], *, topic: str = "audit") -> None: ...


def _check_lines(lines: Sequence[str]) -> None:
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError("a sink message is one line; encode multi-line text as JSON")


# Syslog (RFC 5424 messages, RFC 5425 TLS transport) ---------------------------

# RFC 5424 6.2.1: facility 13 is "log audit"; severity 6 "informational".
LOG_AUDIT = 13
INFORMATIONAL = 6
_BOM = "\ufeff"


def _header_token(value: str, limit: int) -> str:
    # Header fields are printable US-ASCII without spaces (RFC 5424 6.2); "-" is nil.
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def syslog_message(
    text: str,
    *,
    msgid: str,
    hostname: str,
    app_name: str = "sundown",
    facility: int = LOG_AUDIT,
    severity: int = INFORMATIONAL,
    timestamp: datetime | None = None,
    procid: str | None = None,
) -> bytes:
    """One RFC 5424 message, without transport framing."""
    stamp = (timestamp or datetime.now(UTC)).astimezone(UTC)
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            _header_token(hostname, 255),
            _header_token(app_name, 48),
            _header_token(procid or str(os.getpid()), 128),
            _header_token(msgid, 32),
            "-",  # no structured data: the message body carries everything
        )
    )
    # MSG-ANY for plain ASCII (what JSON with ensure_ascii is); otherwise RFC 5424
    # 6.4 says UTF-8 text starts with a byte order mark.
    body = text if text.isascii() else _BOM + text
    return f"{header} {body}".encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 4.3 framing: ``MSG-LEN SP SYSLOG-MSG``; messages may then hold any byte."""
    return str(len(message)).encode() + b" " + message


class SyslogTlsSink:
    """RFC 5424 syslog over TCP with TLS (RFC 5425), the server's certificate verified.

    One connection per batch, closed with a TLS close_notify exchange: the server
    answering it means it has read everything before it. There is no per-message
    acknowledgement in syslog, so a connection that breaks mid-batch fails the
    whole batch and it is sent again (receivers de-duplicate on the event's uid).
    """

    def __init__(
        self,
        *,
        name: str = "syslog",
        host: str,
        port: int = 6514,
        cafile: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        server_name: str | None = None,
        timeout: float = 10.0,
        facility: int = LOG_AUDIT,
        hostname: str | None = None,
    ):
        self.name = name
        self.host = host
        self.port = port
        self.timeout = timeout
        self.facility = facility
        self.hostname = hostname or socket.getfqdn()
        self.server_name = server_name or host
        # The system's trust store unless a CA file is named; never unverified.
        try:
            self.context = ssl.create_default_context(cafile=cafile)
            if certfile:
                self.context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ImproperlyConfigured(
                f"syslog sink {name!r}: cannot load its CA or client certificate: {exc}"
            ) from exc
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2

    def send(self, lines: Sequence[str], *, topic: str = "audit") -> None:
        _check_lines(lines)
        if not lines:
            return
        stamp = datetime.now(UTC)
        payload = b"".join(
            octet_counted(
                syslog_message(
                    line,
                    msgid=topic,
                    hostname=self.hostname,
                    facility=self.facility,
                    timestamp=stamp,
                )
            )
            for line in lines
        )
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=self.timeout) as raw,
                self.context.wrap_socket(raw, server_hostname=self.server_name) as tls,
            ):
                tls.sendall(payload)
                tls.unwrap()
        except ssl.SSLCertVerificationError as exc:
            raise SinkError(f"syslog server certificate refused: {exc.verify_message}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise SinkError(f"syslog {self.host}:{self.port}: {exc}") from exc


# Webhook (HMAC-SHA256 signed, retried with backoff) ----------------------------

SIGNATURE_HEADER = "X-Sundown-Signature"
TIMESTAMP_HEADER = "X-Sundown-Timestamp"
DELIVERY_HEADER = "X-Sundown-Delivery"
TOPIC_HEADER = "X-Sundown-Topic"


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body).

    The timestamp is signed with the body so a captured request cannot be
    replayed later with a fresh timestamp; receivers reject old ones.
    """
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def webhook_signature_valid(
    secret: bytes, headers, body: bytes, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    return hmac.compare_digest(signature, webhook_signature(secret, timestamp, body))


class WebhookSink:
    """POSTs each batch as NDJSON, signed, retrying transient failures with backoff.

    Retried: connection errors, timeouts, 408, 429 and 5xx (honouring a short
    Retry-After). Any other 4xx is permanent: the receiver refused this request
    and sending it again unchanged will not help. Every try of one batch carries
    the same delivery id, so a receiver can drop a repeat it already stored.
    """

    RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(
        self,
        *,
        name: str = "webhook",
        url: str,
        secret: str | bytes,
        retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
        verify: str | bool = True,
        sleep=time.sleep,
    ):
        if not secret:
            raise ImproperlyConfigured(f"webhook sink {name!r} needs a signing secret")
        parts = urlsplit(url)
        # Plain HTTP only to a collector on this host: audit events carry names and
        # addresses, and the signature proves origin, not secrecy.
        if not (
            parts.scheme == "https"
            or (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"))
        ):
            raise ImproperlyConfigured(
                f"webhook sink {name!r}: {url!r} must be https (http only to loopback)"
            )
        self.name = name
        self.url = url
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.verify = verify
        self._sleep = sleep

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_backoff)
        base = min(self.backoff * (2**attempt), self.max_backoff)
        return base * random.uniform(0.8, 1.2)  # jitter: receivers recovering see no stampede

    def send(self, lines: Sequence[str], *, topic: str = "audit") -> None:
        _check_lines(lines)
        if not lines:
            return
        body = ("\n".join(lines) + "\n").encode()
        delivery = uuid.uuid4().hex
        last_error = ""
        retry_after: str | None = None
        with httpx2.Client(timeout=self.timeout, verify=self.verify) as client:
            for attempt in range(self.retries + 1):
                if attempt:
                    self._sleep(self._delay(attempt - 1, retry_after))
                retry_after = None
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-ndjson",
                    TIMESTAMP_HEADER: stamp,
                    SIGNATURE_HEADER: webhook_signature(self.secret, stamp, body),
                    DELIVERY_HEADER: delivery,
                    TOPIC_HEADER: topic,
                }
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except httpx2.HTTPError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    continue
                if response.is_success:
                    return
                last_error = f"HTTP {response.status_code}"
                if response.status_code not in self.RETRYABLE:
                    raise SinkError(f"webhook {self.url}: {last_error}", permanent=True)
                retry_after = response.headers.get("Retry-After")
        raise SinkError(f"webhook {self.url}: {last_error} after {self.retries + 1} tries")


# File ---------------------------------------------------------------------------


class FileSink:
    """Appends lines to a file (a mount another host owns, or a log collector's spool)."""

    def __init__(self, *, name: str = "file", path: str | Path):
        self.name = name
        self.path = Path(path)

    def send(self, lines: Sequence[str], *, topic: str = "audit") -> None:
        _check_lines(lines)
        if not lines:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(f"{line}\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise SinkError(f"file {self.path}: {exc}") from exc


# From settings ------------------------------------------------------------------

_KINDS = {"syslog": SyslogTlsSink, "webhook": WebhookSink, "file": FileSink}


def build_sink(name: str, options: dict) -> Sink:
    """One sink from a settings entry ``{"kind": ..., **constructor options}``."""
    options = dict(options)
    kind = options.pop("kind", name)
    try:
        cls = _KINDS[kind]
    except KeyError:
        raise ImproperlyConfigured(
            f"sink {name!r}: unknown kind {kind!r} (choose {', '.join(_KINDS)})"
        ) from None
    return cls(name=name, **options)


def configured_sinks() -> dict[str, Sink]:
    """Every sink in ``settings.SUNDOWN_SIEM_SINKS``, by name (empty when none is set)."""
    return {
        name: build_sink(name, options) for name, options in settings.SUNDOWN_SIEM_SINKS.items()
    }
