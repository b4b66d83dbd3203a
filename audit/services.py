"""Appending to the audit chain. The only code that writes AuditEvent rows."""

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils.ipv6 import clean_ipv6_address

from audit.actor import Actor
from audit.hashing import COLUMNS, GENESIS_HASH, HASH_VERSION, compute_hash
from audit.models import AuditEvent


@dataclass(frozen=True)
class PendingEvent:
    """An event to append; see ``audit_record_many``."""

    action: str
    target: Any = None
    agency_id: int | None = None
    before: dict | None = None
    after: dict | None = None


_SCALARS = (str, int, bool, type(None))


def _plain_json(value):
    """JSON-safe copy (dates, decimals, UUIDs as strings) that survives jsonb unchanged."""
    if value is None:
        return None
    # Fast path for the common flat dict of plain values (the revocation hot path);
    # floats go the long way because jsonb may print them differently.
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, _SCALARS) for k, v in value.items()
    ):
        return dict(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _normalise_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # Hash exactly what the database will hand back (Django's own IPv6 form).
    return clean_ipv6_address(value) if address.version == 6 else address.compressed


def _target_fields(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        target_type, target_id, target_repr = target
        return target_type, str(target_id), str(target_repr)[:300]
    meta = target._meta
    return meta.label_lower, str(target.pk), str(target)[:300]


def _lock_head():
    """Lock the chain head and read the database clock in the same statement.

    The row lock serialises appends, which is what makes ``seq`` gap-free and
    the chain fork-free; the timestamp comes from the database, not the worker.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT seq, hash, clock_timestamp() FROM audit_chainhead WHERE id = 1 FOR UPDATE"
            )
        else:
            # SQLite serialises writers on the database lock; settings open every
            # transaction IMMEDIATE so the read below already holds it.
            cursor.execute(
                "SELECT seq, hash, strftime('%Y-%m-%d %H:%M:%f', 'now') "
                "FROM audit_chainhead WHERE id = 1"
            )
        row = cursor.fetchone()
    if row is None:
        # A fresh (or flushed) database: start the chain. If events exist without
        # a head, the next insert collides on seq and fails loudly, never forks.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, %s) "
                "ON CONFLICT DO NOTHING",
                [GENESIS_HASH],
            )
        return _lock_head()
    seq, head_hash, now = row
    if isinstance(now, str):
        from datetime import UTC, datetime

        now = datetime.fromisoformat(now).replace(tzinfo=UTC)
    return seq, head_hash, now


def audit_record_many(*, actor: Actor, events: list[PendingEvent]) -> list[dict]:
    """Append several events under one lock of the chain head; return their records.

    Must run inside the transaction that makes the change being recorded, so
    the change and its record commit or roll back together.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit records must be written inside the change's transaction")
    if not events:
        return []
    seq, prev_hash, now = _lock_head()
    rows = []
    for event in events:
        seq += 1
        target_type, target_id, target_repr = _target_fields(event.target)
        record = {
            "seq": seq,
            "occurred_at": now,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "actor_name": actor.name[:200],
            "source_ip": _normalise_ip(actor.source_ip),
            "action": event.action,
            "target_type": target_type,
            "target_id": target_id,
            "target_repr": target_repr,
            "agency_id": event.agency_id,
            "before": _plain_json(event.before),
            "after": _plain_json(event.after),
            "request_id": actor.request_id,
        }
        digest = compute_hash(record, prev_hash)
        record.update(hash_version=HASH_VERSION, prev_hash=prev_hash, hash=digest)
        rows.append(record)
        prev_hash = digest
    # Chunks keep each statement under SQLite's and PostgreSQL's parameter limits.
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        _insert(chunk, head=(chunk[-1]["seq"], chunk[-1]["hash"]))
    return rows


_INSERT_CHUNK = 500


def _insert(rows: list[dict], head: tuple[int, str]) -> None:
    """Insert the rows and move the head in as few round trips as the database allows.

    Appends sit on the hot path of every change, and the head lock serialises
    them, so each round trip saved here is throughput for the whole system.
    """
    ops = connection.ops
    params = []
    for row in rows:
        for name in COLUMNS:
            value = row[name]
            if name == "occurred_at":
                value = ops.adapt_datetimefield_value(value)
            elif name in ("before", "after") and value is not None:
                value = json.dumps(value)
            params.append(value)
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    insert = f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) VALUES " + ", ".join(
        [placeholders] * len(rows)
    )
    update = "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{insert}; {update}", [*params, *head])
        else:
            cursor.execute(insert, params)
            cursor.execute(update, list(head))


def audit_record(
    *,
    actor: Actor,
    action: str,
    target=None,
    agency_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event; see ``audit_record_many``."""
    event = PendingEvent(
        action=action, target=target, agency_id=agency_id, before=before, after=after
    )
    return AuditEvent(**audit_record_many(actor=actor, events=[event])[0])


def audit_record_standalone(**kwargs) -> AuditEvent:
    """Append an event that records no other change (logins, denied attempts)."""
    with transaction.atomic():
        return audit_record(**kwargs)


def snapshot(obj, fields: list[str] | tuple[str, ...]) -> dict:
    """The named fields of ``obj`` as plain values, for before/after."""
    data = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            data[name] = sorted(obj.pk and getattr(obj, name).values_list("pk", flat=True) or [])
        elif field.is_relation:
            data[name] = getattr(obj, field.attname)
        else:
            data[name] = getattr(obj, name)
    return _plain_json(data)


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, for compact before/after records."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
