"""Log lines an operator can ship: one per event, with who/what/where, and no secrets.

``LOG_FORMAT=json`` writes one JSON object per line (python-json-logger) with
``request_id``, ``actor``, ``agency``, ``credential`` and ``system`` taken from the
current context (set by ops.middleware per request, by ops.celery per task, and by the
revocation engine per batch) unless the call passes them in ``extra``.
``LOG_FORMAT=text`` keeps the same fields in a human line.

Redaction runs on every record before any formatter sees it: the configured keys,
every connection secret this process decrypted or encrypted (access.crypto registers
them), passwords in URLs, and token- or password-looking ``name=value`` pairs.
"""

import contextlib
import logging
import re
from collections import OrderedDict
from contextvars import ContextVar

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FIELDS = ("request_id", "actor", "agency", "credential", "system")
REDACTED = "[redacted]"

_context: ContextVar[dict[str, object]] = ContextVar("sundown_log_context", default={})  # noqa: B039 - never mutated, only replaced


@contextlib.contextmanager
def log_context(**fields):
    """Add ``fields`` to every log line written inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def log_context_reset(**fields) -> None:
    """Start a fresh context (a new request or task in a reused thread)."""
    _context.set(dict(fields))


class ContextFilter(logging.Filter):
    """Fill the context fields the call did not give itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in FIELDS:
            if getattr(record, name, None) in (None, ""):
                setattr(record, name, context.get(name, ""))
        return True


# Secret values known to this process; bounded, oldest forgotten first.
_known_secrets: OrderedDict[str, None] = OrderedDict()
_MAX_KNOWN = 10_000
_MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words


def secret_register(value: str | None) -> None:
    """Never log ``value`` from this process on (connection secrets, keys, tokens)."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    _known_secrets[value] = None
    _known_secrets.move_to_end(value)
    while len(_known_secrets) > _MAX_KNOWN:
        _known_secrets.popitem(last=False)


_PATTERNS = [
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@", re.I), rf"\1{REDACTED}@"),
    # Authorization: Token sdn_..., Bearer ...
    (re.compile(r"\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    # Sundown API tokens wherever they appear
    (re.compile(r"\bsdn_[A-Za-z0-9_-]{6,}"), f"sdn_{REDACTED}"),
    # password=..., "secret": "...", api_key: ...
    (
        re.compile(
            r"""((?:password|passwd|pwd|secret|token|api[_-]?key|authorization|signing[_-]?key)"""
            r"""["']?\s*[:=]\s*["']?)([^\s"',;&}]+)""",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
]


def _configured_secrets() -> list[str]:
    from django.conf import settings

    if not settings.configured:
        return []
    values = [
        settings.SECRET_KEY,
        settings.SUNDOWN_AUDIT_LEGACY_HMAC_KEY,
        settings.SUNDOWN_METRICS_TOKEN,
        settings.EMAIL_HOST_PASSWORD,
        *settings.SUNDOWN_ENCRYPTION_KEYS,
        # The SIEM webhook's signing key (audit.sinks).
        *(str(sink.get("secret", "")) for sink in settings.SUNDOWN_SIEM_SINKS.values()),
    ]
    return [v for v in values if v and len(v) >= _MIN_SECRET_LENGTH]


def redact(text: str) -> str:
    if not text:
        return text
    # Longest first, so a secret containing another is replaced whole.
    for value in sorted({*_configured_secrets(), *_known_secrets}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Render the message and traceback once, redacted, before any formatter runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in RESERVED_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, the context fields, extras."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__(["levelname", "name", "message", *FIELDS], *args, **kwargs)

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        if record.exc_text and "exc_info" not in log_record:
            log_record["exc_info"] = record.exc_text


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s actor=%(actor)s "
    "agency=%(agency)s system=%(system)s credential=%(credential)s] %(message)s"
)


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict for settings: one console handler, context and redaction filters."""
    if log_format not in {"json", "text"}:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT={log_format!r}: use json or text.")
    formatter = (
        {"()": "ops.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "ops.logs.ContextFilter"},
            "redact": {"()": "ops.logs.RedactFilter"},
        },
        "formatters": {"sundown": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "sundown",
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
