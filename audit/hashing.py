"""Canonical encoding of an audit event and its hash.

Version 1: SHA-256 over the UTF-8 bytes of a JSON object with sorted keys, no
whitespace, holding the hash version, seq, prev_hash and every recorded field.
Timestamps are UTC with microseconds. Changing any of this needs a new version,
never an edit, or every existing chain stops verifying.
"""

import hashlib
import json
from datetime import UTC, datetime

HASH_VERSION = 1
KNOWN_VERSIONS = frozenset({1})
GENESIS_HASH = "0" * 64

FIELDS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "source_ip",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "agency_id",
    "before",
    "after",
    "request_id",
)


# Every stored column of an event, in table order: what the hash covers plus the chain.
COLUMNS = (*FIELDS, "hash_version", "prev_hash", "hash")


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: dict, prev_hash: str, version: int = HASH_VERSION) -> bytes:
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"Unknown audit hash version {version}")
    body = {name: record[name] for name in FIELDS}
    body["occurred_at"] = format_time(record["occurred_at"])
    body["prev_hash"] = prev_hash
    body["v"] = version
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# Version 1 keys that sort before "occurred_at" and after "seq" (checked by a test).
_BEFORE_TIME = ("action", "actor_id", "actor_name", "actor_type", "after", "agency_id", "before")
_AFTER_SEQ = ("source_ip", "target_id", "target_repr", "target_type")


def canonical_parts(record: dict) -> tuple[str, str, str]:
    """Version 1 canonical text of ``record`` minus what the database assigns.

    ``pre + time + '","prev_hash":"' + prev + '",' + mid + ',"seq":' + seq + ',' + post``
    is exactly ``canonical(...)``: the `audit_append` database function fills in the
    time, prev_hash and seq under the head lock (migration 0005).
    """
    dumps = json.dumps
    head = {name: record[name] for name in _BEFORE_TIME}
    tail = {name: record[name] for name in _AFTER_SEQ}
    tail["v"] = 1
    pre = dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    post = dumps(tail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mid = '"request_id":' + dumps(record["request_id"], ensure_ascii=False)
    return pre[:-1] + ',"occurred_at":"', mid, post[1:]


def compute_hash(record: dict, prev_hash: str, version: int = HASH_VERSION) -> str:
    return hashlib.sha256(canonical(record, prev_hash, version)).hexdigest()
