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
# The C encoder behind _encode, built once: _encode builds it anew for every dict, which
# was most of an append's Python time. (No circular check: what reaches it is a plain
# JSON copy, `audit.services._plain_json`.)
_iterencode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.JSONEncoder().default, _encode_str, None, ":", ",", True, False, True
)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: dict, prev_hash: str, version: int = HASH_VERSION) -> bytes:
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"Unknown audit hash version {version}")
    if isinstance(record["before"], Truncated) or isinstance(record["after"], Truncated):
        # Read cut short (config.json_depth): the hash covers the stored whole.
        (head,), middle, (tail,), _ = batch_pieces([record], record)
        time = format_time(record["occurred_at"])
        return f'{head}{time}","prev_hash":"{prev_hash}{middle}{record["seq"]}{tail}'.encode()
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
    return "".join(_iterencode(value, 0))


# What one append shares: a call has one actor, request and source address.
SHARED = ("actor_id", "actor_name", "actor_type", "request_id", "source_ip")


def batch_pieces(records: list[dict], shared: dict) -> tuple[list[str], str, list[str], list[str]]:
    """Version 1 canonical text of one append's records, minus what the head lock assigns.

    A call has one actor, request and source address: ``shared`` holds them (`SHARED`),
    and the records' own values of those are not read.

    Returns (heads, middle, tails, fields): the canonical text of record i at ``seq``,
    ``time`` (``format_time``) and link ``prev`` is
    ``heads[i] + time + '","prev_hash":"' + prev + middle + str(seq) + tails[i]``, exactly
    ``canonical(...)`` (tests/audit/test_append_bulk.py holds them together); ``fields[i]``
    is the record's row as `audit_append_rows` takes it (migration 0008) minus its hash:
    the JSON of action, target_type, target_id, target_repr, agency_id, before and after,
    each followed by a tab. The pieces come from the same JSON, so what the database
    rebuilds from the row is what was hashed here. Written out key by key in version 1's
    sorted order: it runs for every event appended.
    """
    first = shared
    actor = (
        f',"actor_id":{_value(first["actor_id"])},"actor_name":{_value(first["actor_name"])}'
        f',"actor_type":{_value(first["actor_type"])},"after":'
    )
    middle = f'","request_id":{_value(first["request_id"])},"seq":'
    source = f',"source_ip":{_value(first["source_ip"])},"target_id":'
    value, s, encode = _value, _encode_str, _iterencode
    heads, tails, fields = [], [], []
    # Records of one call share their before/after objects (audit.services._record):
    # each object is encoded once, by identity, for as long as the records live.
    encoded: dict[int, str] = {}

    def document(doc) -> str:
        if doc is None:
            return "null"
        if type(doc) is not dict:
            return value(doc)
        text = encoded.get(id(doc))
        if text is None:
            text = encoded[id(doc)] = "".join(encode(doc, 0))
        return text

    for r in records:
        # _value's cases inline for the types these fields nearly always hold (a call
        # per value was a third of this loop): text as JSON strings, the agency an int
        # or None, before/after a dict or None; anything else goes through _value.
        action, target_type, target_id, target_repr, agency, before, after = (
            r["action"],
            r["target_type"],
            r["target_id"],
            r["target_repr"],
            r["agency_id"],
            r["before"],
            r["after"],
        )
        action = s(action) if type(action) is str else value(action)
        target_type = s(target_type) if type(target_type) is str else value(target_type)
        target_id = s(target_id) if type(target_id) is str else value(target_id)
        target_repr = s(target_repr) if type(target_repr) is str else value(target_repr)
        agency = int.__repr__(agency) if type(agency) is int else value(agency)
        before, after = document(before), document(after)
        heads.append(
            f'{{"action":{action}{actor}{after},"agency_id":{agency},"before":{before}'
            ',"occurred_at":"'
        )
        tails.append(
            f'{source}{target_id},"target_repr":{target_repr},"target_type":{target_type},"v":1}}'
        )
        fields.append(
            f"{action}\t{target_type}\t{target_id}\t{target_repr}\t{agency}\t{before}\t{after}\t"
        )
    return heads, middle, tails, fields


def batch_hashes(
    heads: list[str], middle: str, tails: list[str], *, seq: int, prev: str, time: str
) -> list[str]:
    """The hashes of a batch (``batch_pieces``) appended after head ``seq``/``prev`` at ``time``."""
    sha256 = hashlib.sha256
    link = f'{time}","prev_hash":"'
    hashes = []
    for head, tail in zip(heads, tails, strict=True):
        seq += 1
        prev = sha256(f"{head}{link}{prev}{middle}{seq}{tail}".encode()).hexdigest()
        hashes.append(prev)
    return hashes


def compute_hash(record: dict, prev_hash: str, version: int = HASH_VERSION) -> str:
    return hashlib.sha256(canonical(record, prev_hash, version)).hexdigest()
