"""Rules for a system's connection settings (``System.config``), shared by every way in.

Settings are stored in clear and shown to every reader, so only the keys the
system's connector reads are accepted (a password under a name nobody thought of
is refused, not stored); values are flat scalars; and every destination must be
one the deployment allows (access.destinations): hosts and ports against
``SUNDOWN_TARGET_ALLOWLIST``, local files against ``SUNDOWN_LOCAL_TARGET_ROOTS``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from access.destinations import (
    DEMO_HOST_LABEL,
    RECORD_KEYS,
    DestinationRefused,
    destination_check,
    local_path_check,
    never_resolves,
    recorded_destinations,
)
from config.text import text_problem

# A kind without a connector may record where the system is, nothing else.
_UNCONNECTED_KEYS = RECORD_KEYS
_MAX_KEYS = 30
_MAX_TEXT = 1000
# Settings of several lines (``Setting.multiline``): a bundle of a few CA certificates.
MULTILINE_MAX = 20000


def _connector(kind: str):
    from revocation.connectors.registry import connector_class

    try:
        return connector_class(kind)
    except KeyError:
        return None  # not a kind (the model's choices refuse it); hold it to the record rules


def config_keys(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """(keys accepted, keys that say where the secret goes) for systems of ``kind``."""
    cls = _connector(kind)
    if cls is None:
        return _UNCONNECTED_KEYS, _UNCONNECTED_KEYS
    return cls.config_keys, cls.destination_keys


def _destinations(kind: str, config: dict) -> list[tuple[str, int]]:
    cls = _connector(kind)
    return cls.destinations(config) if cls is not None else recorded_destinations(config)


def _local_paths(kind: str, config: dict) -> list:
    cls = _connector(kind)
    return cls.local_paths(config) if cls is not None else []


def multiline_keys(kind: str) -> frozenset[str]:
    """The settings of ``kind`` that hold text of several lines (PEM certificates)."""
    from revocation.connectors.registry import connector_meta

    try:
        explained = connector_meta(kind).config_help
    except KeyError:
        return frozenset()
    return frozenset(key for key, setting in explained.items() if setting.multiline)


def _value_problem(value, *, multiline: bool = False) -> str | None:
    if value is None or isinstance(value, bool | int | float):
        return None
    if isinstance(value, str):
        limit = MULTILINE_MAX if multiline else _MAX_TEXT
        if len(value) > limit:
            return f"at most {limit} characters"
        return text_problem(value, multiline=multiline)
    return "must be text, a number, true/false or null"


def system_config_check(kind: str, config) -> None:
    """Raise a ValidationError on ``config`` for anything this kind may not hold."""
    if not isinstance(config, dict):
        raise ValidationError({"config": "Connection settings must be a JSON object."})
    allowed, _ = config_keys(kind)
    multiline = multiline_keys(kind)
    errors: list[str] = []
    if len(config) > _MAX_KEYS:
        errors.append(f"At most {_MAX_KEYS} settings.")
    for key, value in config.items():
        if key not in allowed:
            errors.append(
                f"{str(key)[:50]!r} is not a setting of {kind} systems (allowed: "
                f"{', '.join(sorted(allowed)) or 'none'}); secrets go in 'secret'."
            )
            continue
        problem = _value_problem(value, multiline=key in multiline)
        if problem:
            errors.append(f"{key}: {problem}.")
    cls = _connector(kind)
    if not errors and cls is not None:
        errors += cls.config_problems(config)
    if errors:
        raise ValidationError({"config": errors})
    try:
        for host, port in _destinations(kind, config):
            destination_check(host, port, resolve=False)
        for path in _local_paths(kind, config):
            local_path_check(path)
    except DestinationRefused as exc:
        raise ValidationError({"config": str(exc)}) from exc


def destination_of(kind: str, config: dict) -> dict:
    """The settings that decide where a system's secret is sent (kind included)."""
    _, keys = config_keys(kind)
    return {"kind": kind, **{k: config.get(k) for k in sorted(keys) if k in config}}


def demo_label(kind: str, config: dict) -> str:
    """ "demo: host does not exist" for a system that points at a name under ``.invalid``
    (the demo data's placeholders, which no machine can reach), else ""."""
    try:
        hosts = [
            host for host, _ in _destinations(kind, config if isinstance(config, dict) else {})
        ]
    except DestinationRefused:
        return ""
    return DEMO_HOST_LABEL if any(never_resolves(host) for host in hosts) else ""
