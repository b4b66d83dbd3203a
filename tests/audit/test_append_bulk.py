"""Bulk appends (migration 0007): the same canonical text, the same rules, whole batches."""

import random
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit.actor import Actor
from audit.hashing import (
    canonical,
    canonical_parts,
    canonical_parts_batch,
    compute_hash,
    format_time,
)
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import PendingEvent, audit_record_many

pytestmark = pytest.mark.django_db

_VALUES = [
    None,
    "",
    "plain",
    'quote " backslash \\ slash /',
    "tab\tnew\nline\x00\x1f",
    "ünïcode ✓ \u2028 \U0001f600",
    0,
    -7,
    2**62,
    True,
    False,
    1.5,
    [1, "two", None, {"b": 1, "a": 2}],
    {"z": 1, "a": {"y": [], "b": None}, "é": "x", "A": True},
]


def _random_record(rng: random.Random) -> dict:
    return {
        "seq": rng.randint(1, 10**9),
        "occurred_at": datetime(2026, 12, 7, 1, 2, 3, rng.randint(0, 999_999), tzinfo=UTC),
        "actor_type": rng.choice(["user", "token", "system"]),
        "actor_id": rng.choice(["", "7", "ü"]),
        "actor_name": rng.choice(_VALUES[1:6]),
        "source_ip": rng.choice([None, "192.0.2.1", "2001:db8::1"]),
        "action": rng.choice(["credential.revoked", 'a"b']),
        "target_type": rng.choice(["", "access.credential"]),
        "target_id": str(rng.randint(0, 99)),
        "target_repr": rng.choice(_VALUES[1:6]),
        "agency_id": rng.choice([None, 0, 3, 2**40]),
        "before": rng.choice([None, {}, {"k": rng.choice(_VALUES)}]),
        "after": rng.choice([None, {"k": rng.choice(_VALUES), "j": rng.choice(_VALUES)}]),
        "request_id": rng.choice(["", "r-1", "req\n1"]),
    }


def test_canonical_parts_match_canonical_for_every_kind_of_value():
    rng = random.Random(16)
    for _ in range(2000):
        record = _random_record(rng)
        pre, mid, post = canonical_parts(record)
        prev = f"{rng.getrandbits(256):064x}"
        joined = (
            f'{pre}{format_time(record["occurred_at"])}","prev_hash":"{prev}",{mid},'
            f'"seq":{record["seq"]},{post}'
        )
        assert joined.encode() == canonical(record, prev), record


@pytest.mark.parametrize("shared", [True, False])
def test_canonical_parts_batch_is_canonical_parts_of_each(shared):
    rng = random.Random(17)
    records = [_random_record(rng) for _ in range(300)]
    if shared:  # one actor per append, as audit_record_many makes them
        for record in records:
            for name in ("actor_id", "actor_name", "actor_type", "request_id", "source_ip"):
                record[name] = records[0][name]
    pres, mid, posts = canonical_parts_batch(records)
    expected = [canonical_parts(record) for record in records]
    assert pres == [pre for pre, _, _ in expected]
    assert posts == [post for _, _, post in expected]
    assert mid == expected[0][1]


def test_a_batch_is_one_stretch_of_the_chain_and_hashes_what_python_would():
    with transaction.atomic():
        first = audit_record_many(
            actor=Actor.system("bulk"),
            events=[PendingEvent("test.event", after={"i": i}) for i in range(3)],
        )
    with transaction.atomic():
        records = audit_record_many(
            actor=Actor(type="user", id="7", name="Zoë", source_ip="::1", request_id="r"),
            events=[
                PendingEvent(
                    "test.bulk",
                    target=("test.thing", i, f"thing {i} ✓"),
                    agency_id=i % 3 or None,
                    before={"i": i, "nested": {"seq": i}} if i % 2 else None,
                    after={"i": i + 1, "f": 0.1},
                )
                for i in range(2500)
            ],
        )
    assert [r["seq"] for r in records] == list(range(4, 2504))
    assert records[0]["prev_hash"] == first[-1]["hash"]
    assert len({r["occurred_at"] for r in records}) == 1  # one append, one database time
    stored = {e["seq"]: e for e in AuditEvent.objects.filter(seq__gte=4).values()}
    for record in records:
        row = stored[record["seq"]]
        assert row["hash"] == record["hash"] == compute_hash(row, row["prev_hash"])
        assert row["after"] == record["after"] and row["agency_id"] == record["agency_id"]
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    ("pre_extra", "post_extra"),
    [
        ('"target_id":"smuggled",', ""),  # a post key in the prefix
        ("", '"action":"smuggled",'),  # a pre key in the suffix
        ("", '"seq":999,'),
        ('"request_id":"x",', ""),
    ],
)
def test_append_refuses_a_piece_holding_another_pieces_key(pre_extra, post_extra):
    record = {
        "actor_type": "system",
        "actor_id": "",
        "actor_name": "system:x",
        "source_ip": None,
        "action": "test.event",
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "agency_id": None,
        "before": None,
        "after": None,
        "request_id": "",
    }
    pre, mid, post = canonical_parts(record)
    pre = pre.replace('"action":', pre_extra + '"action":', 1)
    post = post_extra + post
    with (
        pytest.raises(DatabaseError, match="another piece's key"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM audit_append(%s, %s, %s)", [[pre], mid, [post]])
    assert not AuditEvent.objects.exists()
