"""Signed checkpoints of the audit chain head.

A hash chain proves order and integrity only against someone who cannot rewrite
the whole table. A checkpoint (seq, hash) signed with a key that lives outside
the database, and shipped to a SIEM or a file elsewhere, catches an attacker who
recomputes every hash after an edit: the old head no longer matches.
"""

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent, ChainHead

logger = logging.getLogger("sundown.audit.checkpoint")


def _signature(seq: int, digest: str) -> str:
    key = settings.SUNDOWN_AUDIT_SIGNING_KEY.encode()
    return hmac.new(
        key, f"sundown-checkpoint-v1:{seq}:{digest}".encode(), hashlib.sha256
    ).hexdigest()


def checkpoint_create() -> dict:
    """Sign the current head and log it (ship the `sundown.audit.checkpoint` logger to the SIEM)."""
    head = ChainHead.objects.filter(pk=1).first()
    seq, digest = (head.seq, head.hash) if head else (0, "0" * 64)
    record = {
        "v": 1,
        "seq": seq,
        "hash": digest,
        "at": timezone.now().isoformat(),
        "sig": _signature(seq, digest),
    }
    logger.info(json.dumps(record, sort_keys=True))
    return record


def checkpoint_check(record: dict) -> str | None:
    """None when ``record`` is authentic and the chain still has that hash at that seq."""
    try:
        seq, digest, sig = int(record["seq"]), str(record["hash"]), str(record["sig"])
    except (KeyError, TypeError, ValueError):
        return f"malformed checkpoint {record!r}"
    if not hmac.compare_digest(sig, _signature(seq, digest)):
        return f"checkpoint at seq {seq} has a bad signature (forged, or another key)"
    if seq == 0:
        return None
    stored = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
    if stored is None:
        return f"seq {seq} named by a signed checkpoint is missing"
    if stored != digest:
        return f"seq {seq} differs from its signed checkpoint: the chain was rewritten"
    return None
