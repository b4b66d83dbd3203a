"""The HMAC checkpoints of Sundown before signed notes: still checked, never made.

They were JSON lines ``{"v": 1, "seq", "hash", "at", "sig"}`` with an HMAC by the
old ``SUNDOWN_AUDIT_SIGNING_KEY`` (still read for them, or SECRET_KEY); whoever
could check one could forge one, hence the Ed25519 checkpoints of
``audit.checkpoints``. Checking an old line is a lookup of one event's hash, so
`audit_verify --checkpoints` keeps accepting them.
"""

import hashlib
import hmac

from django.conf import settings

from audit.models import AuditEvent


def _signature(seq: int, digest: str) -> str:
    key = settings.SUNDOWN_AUDIT_LEGACY_HMAC_KEY.encode()
    return hmac.new(
        key, f"sundown-checkpoint-v1:{seq}:{digest}".encode(), hashlib.sha256
    ).hexdigest()


def legacy_checkpoint_check(record: dict) -> str | None:
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
