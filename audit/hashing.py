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
    if version != 1:
        raise ValueError(f"Unknown audit hash version {version}")
    body = {name: record[name] for name in FIELDS}
    body["occurred_at"] = format_time(record["occurred_at"])
    body["prev_hash"] = prev_hash
    body["v"] = version
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(record: dict, prev_hash: str, version: int = HASH_VERSION) -> str:
    return hashlib.sha256(canonical(record, prev_hash, version)).hexdigest()
