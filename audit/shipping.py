"""Shipping the audit trail to the configured sinks as OCSF events, from a cursor per sink.

Each sink has its own ``SinkCursor``: the last seq it took. A shipper leases the
cursor with a conditional UPDATE (so a beat run and a ``manage.py audit_ship``
never ship the same sink at once), reads the events after it in seq order, hands
them to the sink, and moves the cursor only if the sink took them and the lease is
still its own. A failed or interrupted batch is therefore sent again, never
skipped; the crash window between "sink took it" and "cursor moved" can repeat
one batch, which receivers drop by ``metadata.uid`` (the event's hash).

Cursor moves are not audit events themselves: each would be a new event to ship,
and the trail would feed itself.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Now

from audit.hashing import COLUMNS
from audit.models import AuditEvent, SinkCursor
from audit.ocsf import ocsf_line
from audit.sinks import Sink, SinkError, configured_sinks

logger = logging.getLogger("sundown.audit.shipping")


@dataclass
class ShipResult:
    """What one run did for one sink."""

    sink: str
    shipped: int = 0
    after_seq: int = 0
    busy: bool = False  # another shipper holds this sink's lease
    error: str = ""


def _claim(name: str, owner: str, lease_seconds: int) -> bool:
    SinkCursor.objects.get_or_create(sink=name)
    return bool(
        SinkCursor.objects.filter(sink=name)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()))
        .update(lease_owner=owner, lease_expires_at=Now() + timedelta(seconds=lease_seconds))
    )


def _release(name: str, owner: str, **fields) -> int:
    return SinkCursor.objects.filter(sink=name, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None, **fields
    )


def _batch(after_seq: int, size: int) -> list[dict]:
    rows = AuditEvent.objects.filter(seq__gt=after_seq).order_by("seq").values_list(*COLUMNS)
    batch = []
    expected = after_seq + 1
    for values in rows[:size]:
        record = dict(zip(COLUMNS, values, strict=True))
        # Appends commit in seq order under the chain head's lock, so a gap means a
        # broken chain: ship up to it, never past it (audit_verify names the gap).
        if record["seq"] != expected:
            break
        batch.append(record)
        expected += 1
    return batch


def audit_ship_sink(
    *, sink: Sink, batch_size: int | None = None, max_batches: int | None = None
) -> ShipResult:
    """Ship what ``sink`` has not taken yet, batch by batch, until the head (or max_batches)."""
    batch_size = batch_size or settings.SUNDOWN_SIEM_BATCH
    owner = uuid.uuid4().hex
    lease = settings.SUNDOWN_SIEM_LEASE_SECONDS
    result = ShipResult(sink=sink.name)
    if not _claim(sink.name, owner, lease):
        result.busy = True
        result.after_seq = SinkCursor.objects.get(sink=sink.name).after_seq
        return result
    batches = 0
    try:
        after_seq = SinkCursor.objects.get(sink=sink.name).after_seq
        while max_batches is None or batches < max_batches:
            batch = _batch(after_seq, batch_size)
            if not batch:
                break
            sink.send([ocsf_line(record) for record in batch], topic="audit")
            last = batch[-1]["seq"]
            moved = SinkCursor.objects.filter(
                sink=sink.name, lease_owner=owner, after_seq=after_seq
            ).update(
                after_seq=last,
                shipped_at=Now(),
                failures=0,
                last_error="",
                lease_expires_at=Now() + timedelta(seconds=lease),
            )
            if not moved:
                # The lease ran out mid-send and someone else shipped on: stop here;
                # they own the cursor now and the batch reached the sink either way.
                result.error = "lease lost while shipping"
                break
            result.shipped += len(batch)
            after_seq = last
            batches += 1
            if len(batch) < batch_size:
                break
    except SinkError as exc:
        result.error = exc.message
        logger.warning("audit shipping to %s failed: %s", sink.name, exc.message)
        _release(
            sink.name,
            owner,
            failures=F("failures") + 1,
            last_error=exc.message[:2000],
            last_error_at=Now(),
        )
    else:
        _release(sink.name, owner)
    result.after_seq = SinkCursor.objects.get(sink=sink.name).after_seq
    return result


def audit_ship(*, only: str | None = None, **kwargs) -> list[ShipResult]:
    """Ship to every configured sink (or the one named ``only``); one sink's failure
    never holds back the others."""
    sinks = configured_sinks()
    if only is not None:
        if only not in sinks:
            raise KeyError(only)
        sinks = {only: sinks[only]}
    return [audit_ship_sink(sink=sink, **kwargs) for sink in sinks.values()]
