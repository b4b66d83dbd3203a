"""Appending to the audit chain. The only code that writes AuditEvent rows."""

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils.ipv6 import clean_ipv6_address

from audit.actor import Actor
from audit.hashing import (
    COLUMNS,
    GENESIS_HASH,
    HASH_VERSION,
    batch_hashes,
    batch_pieces,
    compute_hash,
)
from audit.models import AuditEvent


@dataclass(frozen=True)
class PendingEvent:
    """An event to append; see ``audit_record_many``."""

    action: str
    target: Any = None
    agency_id: int | None = None
    before: dict | None = None
    after: dict | None = None


# Exactly these types (a subclass, such as an enum, takes the long way and comes out plain).
_SCALARS = frozenset({str, int, bool, type(None)})


def _plain_json(value):
    """JSON-safe copy (dates, decimals, UUIDs as strings) that survives jsonb unchanged."""
    if value is None:
        return None
    # Fast path for the common flat dict of plain values (the revocation hot path);
    # floats go the long way because jsonb may print them differently. A plain loop:
    # all() over a generator cost more than the copy.
    if type(value) is dict:
        scalars = _SCALARS
        for k, v in value.items():
            if type(k) is not str or type(v) not in scalars:
                break
        else:
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
    """SQLite only: read the head and the clock; the database lock serialises writers.

    Settings open every SQLite transaction IMMEDIATE, so this read already holds the
    write lock; the triggers of migration 0005 refuse any insert that does not extend
    the head by one and move the head themselves.
    """
    from datetime import UTC, datetime

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, hash, strftime('%Y-%m-%d %H:%M:%f', 'now') "
            "FROM audit_chainhead WHERE id = 1"
        )
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                "INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, %s) "
                "ON CONFLICT DO NOTHING",
                [GENESIS_HASH],
            )
            return _lock_head()
    seq, head_hash, now = row
    return seq, head_hash, datetime.fromisoformat(now).replace(tzinfo=UTC)


def _record(actor: dict, event: PendingEvent, copies: dict[int, Any]) -> dict:
    """The event's row. ``copies`` holds the JSON copy of each before/after object this
    call has seen, by identity: the events of a batch share them (a revocation batch
    has a few distinct objects for 1,000 events), and so do their records."""
    target_type, target_id, target_repr = _target_fields(event.target)
    return {
        **actor,
        "action": event.action,
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "agency_id": event.agency_id,
        "before": _copy(event.before, copies),
        "after": _copy(event.after, copies),
    }


def _copy(value, copies: dict[int, Any]):
    if value is None:
        return None
    copy = copies.get(id(value))
    if copy is None:
        copy = copies[id(value)] = _plain_json(value)
    return copy


def audit_record_many(*, actor: Actor, events: list[PendingEvent]) -> list[dict]:
    """Append several events in one step under the chain head lock; return their records.

    Must run inside the transaction that makes the change being recorded, so
    the change and its record commit or roll back together.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit records must be written inside the change's transaction")
    if not events:
        return []
    # The actor's fields once per call, not once per event.
    fields = {
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_name": actor.name[:200],
        "source_ip": _normalise_ip(actor.source_ip),
        "request_id": actor.request_id,
    }
    # The copies live as long as the events: no id is reused within the call.
    copies: dict[int, Any] = {}
    records = [_record(fields, event, copies) for event in events]
    if connection.vendor == "postgresql":
        _append_postgresql(records)
    else:
        _append_sqlite(records)
    return records


# Rows per `audit_append_rows` call: one call per batch of the revocation engine;
# bigger batches are split only to bound the statement size.
_APPEND_CHUNK = 5000


def _append_postgresql(records: list[dict]) -> None:
    """Take the head with `audit_lock_head`, hash here, let `audit_append_rows` check and store.

    The canonical pieces are built before the head is locked, so concurrent appenders
    hold it only for the hashing and the insert (migration 0008).
    """
    first = records[0]  # every record holds the call's actor fields
    actor = [first[name] for name in ("actor_type", "actor_id", "actor_name", "source_ip")]
    if len(records) <= _ONE_CALL:
        _append_small(records, actor)
        return
    pieces = [
        batch_pieces(records[start : start + _APPEND_CHUNK], first)
        for start in range(0, len(records), _APPEND_CHUNK)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev_hash, occurred_at, time = cursor.fetchone()
        for number, (heads, middle, tails, fields) in enumerate(pieces):
            hashes = batch_hashes(heads, middle, tails, seq=seq, prev=prev_hash, time=time)
            rows = "\n".join([f"{row}{digest}" for row, digest in zip(fields, hashes, strict=True)])
            cursor.execute(
                "SELECT audit_append_rows(%s, %s, %s, %s, %s, %s)",
                [*actor, first["request_id"], rows],
            )
            for record, digest in zip(records[number * _APPEND_CHUNK :], hashes, strict=False):
                seq += 1
                record["seq"] = seq
                record["occurred_at"] = occurred_at
                record["hash_version"] = HASH_VERSION
                record["prev_hash"] = prev_hash
                record["hash"] = prev_hash = digest


# Up to this many events, the database hashes them in the same call that locks the head
# (`audit_append_small`, migration 0010): one round trip instead of two for a lone event.
_ONE_CALL = 8


def _append_small(records: list[dict], actor: list) -> None:
    _, _, _, fields = batch_pieces(records, records[0])
    rows = "\n".join([row[:-1] for row in fields])  # each ends in the tab before its hash
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_append_small(%s, %s, %s, %s, %s, %s)",
            [*actor, records[0]["request_id"], rows],
        )
        seq, prev_hash, occurred_at, hashes = cursor.fetchone()
    for record, digest in zip(records, hashes, strict=True):
        record["seq"] = seq
        record["occurred_at"] = occurred_at
        record["hash_version"] = HASH_VERSION
        record["prev_hash"] = prev_hash
        record["hash"] = prev_hash = digest
        seq += 1


def _append_sqlite(records: list[dict]) -> None:
    seq, prev_hash, now = _lock_head()
    for record in records:
        seq += 1
        record.update(seq=seq, occurred_at=now)
        digest = compute_hash(record, prev_hash)
        record.update(hash_version=HASH_VERSION, prev_hash=prev_hash, hash=digest)
        prev_hash = digest
    ops = connection.ops
    # Chunks keep each statement under SQLite's parameter limit.
    for start in range(0, len(records), _SQLITE_CHUNK):
        chunk = records[start : start + _SQLITE_CHUNK]
        params = []
        for row in chunk:
            for name in COLUMNS:
                value = row[name]
                if name == "occurred_at":
                    value = ops.adapt_datetimefield_value(value)
                elif name in ("before", "after") and value is not None:
                    value = json.dumps(value)
                params.append(value)
        placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
        insert = f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) VALUES " + ", ".join(
            [placeholders] * len(chunk)
        )
        with connection.cursor() as cursor:
            cursor.execute(insert, params)


_SQLITE_CHUNK = 500


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
