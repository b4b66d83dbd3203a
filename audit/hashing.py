"""Canonical encoding of an audit event and its hash.

Version 1: SHA-256 over the UTF-8 bytes of a JSON object with sorted keys, no
whitespace, holding the hash version, seq, prev_hash and every recorded field.
Timestamps are UTC with microseconds. Changing any of this needs a new version,
never an edit, or every existing chain stops verifying.
"""

import hashlib
import json
from datetime import UTC, datetime

from config.json_depth import Truncated

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


# One encoder for every value: json.dumps builds a new one per call when given options,
# which was a third of the append path's Python time.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_encode_str = json.encoder.encode_basestring  # what _encode does for a str, minus a call


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: dict, prev_hash: str, version: int = HASH_VERSION) -> bytes:
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"Unknown audit hash version {version}")
    if isinstance(record["before"], Truncated) or isinstance(record["after"], Truncated):
        # Read cut short (config.json_depth): the hash covers the stored whole.
        pre, mid, post = canonical_parts(record)
        time = format_time(record["occurred_at"])
        return f'{pre}{time}","prev_hash":"{prev_hash}",{mid},"seq":{record["seq"]},{post}'.encode()
    body = {name: record[name] for name in FIELDS}
    body["occurred_at"] = format_time(record["occurred_at"])
    body["prev_hash"] = prev_hash
    body["v"] = version
    return _encode(body).encode()


def _value(value) -> str:
    """``value`` as json.dumps(..., sort_keys, compact, ensure_ascii=False) writes it."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if value is None:
        return "null"
    if kind is int:  # exactly int: bool is an int that JSON spells true/false
        return int.__repr__(value)
    if isinstance(value, Truncated):
        return value.canonical
    return _encode(value)


def canonical_parts(record: dict) -> tuple[str, str, str]:
    """Version 1 canonical text of ``record`` minus what the database assigns.

    ``pre + time + '","prev_hash":"' + prev + '",' + mid + ',"seq":' + seq + ',' + post``
    is exactly ``canonical(...)``: the `audit_append` database function fills in the
    time, prev_hash and seq under the head lock (migration 0005). Written out key by
    key in version 1's sorted order (tests/audit/test_chain.py holds it to ``canonical``):
    it runs for every event appended.
    """
    pre = "".join(
        [
            '{"action":',
            _value(record["action"]),
            ',"actor_id":',
            _value(record["actor_id"]),
            ',"actor_name":',
            _value(record["actor_name"]),
            ',"actor_type":',
            _value(record["actor_type"]),
            ',"after":',
            _value(record["after"]),
            ',"agency_id":',
            _value(record["agency_id"]),
            ',"before":',
            _value(record["before"]),
            ',"occurred_at":"',
        ]
    )
    post = "".join(
        [
            '"source_ip":',
            _value(record["source_ip"]),
            ',"target_id":',
            _value(record["target_id"]),
            ',"target_repr":',
            _value(record["target_repr"]),
            ',"target_type":',
            _value(record["target_type"]),
            ',"v":1}',
        ]
    )
    return pre, '"request_id":' + _value(record["request_id"]), post


_SHARED = ("actor_id", "actor_name", "actor_type", "request_id", "source_ip")


def canonical_parts_batch(records: list[dict]) -> tuple[list[str], str, list[str]]:
    """``canonical_parts`` of every record of one batch: (pres, mid, posts).

    The records of one append share their actor, request and source address (one
    actor per call), so those pieces are written once for the batch.
    """
    first = records[0]
    if any(record[name] != first[name] for record in records for name in _SHARED):
        pres, posts = [], []
        for record in records:
            pre, _, post = canonical_parts(record)
            pres.append(pre)
            posts.append(post)
        return pres, canonical_parts(first)[1], posts
    actor = (
        f',"actor_id":{_value(first["actor_id"])},"actor_name":{_value(first["actor_name"])}'
        f',"actor_type":{_value(first["actor_type"])},"after":'
    )
    source = f'"source_ip":{_value(first["source_ip"])},"target_id":'
    value = _value
    pres = [
        f'{{"action":{value(r["action"])}{actor}{value(r["after"])},"agency_id":'
        f'{value(r["agency_id"])},"before":{value(r["before"])},"occurred_at":"'
        for r in records
    ]
    posts = [
        f'{source}{value(r["target_id"])},"target_repr":{value(r["target_repr"])}'
        f',"target_type":{value(r["target_type"])},"v":1}}'
        for r in records
    ]
    return pres, '"request_id":' + value(first["request_id"]), posts


def compute_hash(record: dict, prev_hash: str, version: int = HASH_VERSION) -> str:
    return hashlib.sha256(canonical(record, prev_hash, version)).hexdigest()
