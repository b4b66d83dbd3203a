"""Reading and verifying the audit chain."""

from dataclasses import dataclass

from audit.hashing import COLUMNS, GENESIS_HASH, KNOWN_VERSIONS, compute_hash
from audit.models import AuditEvent, ChainHead


@dataclass
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    message: str = ""


def audit_chain_verify(*, chunk_size: int = 5000) -> ChainReport:
    """Recompute every hash in seq order; report the first event that does not fit.

    Catches an altered row (hash mismatch), a removed row (seq gap or broken
    link), swapped rows, and a truncated tail (head no longer matches).
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    columns = COLUMNS
    rows = AuditEvent.objects.order_by("seq").values_list(*columns).iterator(chunk_size=chunk_size)
    for values in rows:
        record = dict(zip(columns, values, strict=True))
        seq = record["seq"]
        if seq != expected_seq:
            return ChainReport(
                False, checked, expected_seq, f"seq {expected_seq} is missing (next is {seq})"
            )
        if record["prev_hash"] != prev_hash:
            return ChainReport(False, checked, seq, f"seq {seq} does not link to seq {seq - 1}")
        if record["hash_version"] not in KNOWN_VERSIONS:
            return ChainReport(
                False,
                checked,
                seq,
                f"seq {seq} has unknown hash version {record['hash_version']} "
                "(forged, or written by a newer Sundown)",
            )
        if compute_hash(record, prev_hash, record["hash_version"]) != record["hash"]:
            return ChainReport(False, checked, seq, f"seq {seq} was altered (hash mismatch)")
        prev_hash = record["hash"]
        expected_seq += 1
        checked += 1
    head = ChainHead.objects.filter(pk=1).first()
    if head is None:
        if checked == 0:
            return ChainReport(True, 0, None, "the chain is empty")
        return ChainReport(False, checked, 1, "chain head is missing")
    if head.seq != checked or head.hash != prev_hash:
        return ChainReport(
            False,
            checked,
            checked + 1 if head.seq > checked else head.seq,
            f"chain head says seq {head.seq} but the table ends at seq {checked}",
        )
    return ChainReport(True, checked, None, f"{checked} events verified")
