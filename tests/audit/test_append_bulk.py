"""Bulk appends (migration 0008): hashed here, checked and stored by the database."""

import hashlib
import json
import random
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit.actor import Actor
from audit.hashing import (
    SHARED,
    batch_hashes,
    batch_pieces,
    canonical,
    compute_hash,
    format_time,
)
from audit.models import AuditEvent, ChainHead
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


def _joined(head, middle, tail, record, prev):
    time = format_time(record["occurred_at"])
    return f'{head}{time}","prev_hash":"{prev}{middle}{record["seq"]}{tail}'.encode()


def test_batch_pieces_rebuild_canonical_for_every_kind_of_value():
    rng = random.Random(16)
    for _ in range(2000):
        record = _random_record(rng)
        (head,), middle, (tail,), (fields,) = batch_pieces([record], record)
        prev = f"{rng.getrandbits(256):064x}"
        assert _joined(head, middle, tail, record, prev) == canonical(record, prev), record
        # The row the database stores is the same JSON, field by field.
        names = ("action", "target_type", "target_id", "target_repr", "agency_id")
        values = [json.loads(field) for field in fields.split("\t")[:-1]]
        assert values == [record[n] for n in names] + [record["before"], record["after"]]


def test_batch_hashes_chain_the_batch_from_the_head():
    rng = random.Random(17)
    shared = _random_record(rng)
    records = [dict(_random_record(rng), **{n: shared[n] for n in SHARED}) for _ in range(300)]
    heads, middle, tails, _ = batch_pieces(records, shared)
    time = datetime(2026, 12, 7, 1, 2, 3, 4, tzinfo=UTC)
    hashes = batch_hashes(heads, middle, tails, seq=41, prev="e" * 64, time=format_time(time))
    prev = "e" * 64
    for seq, (record, digest) in enumerate(zip(records, hashes, strict=True), 42):
        record.update(seq=seq, occurred_at=time)
        assert digest == compute_hash(record, prev)
        prev = digest


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


def test_events_sharing_their_before_and_after_hash_as_events_with_copies():
    # The append copies and encodes each before/after object once per call, by identity
    # (audit.services._record, audit.hashing.batch_pieces): shared or not, same chain.
    before, after = {"status": "pending"}, {"status": "revoked", "attempt": 1, "f": 0.5}
    other = {"status": "revoked", "attempt": 2}

    def events(share):
        return [
            PendingEvent(
                "test.shared",
                target=("test.thing", i, f"thing {i}"),
                agency_id=1,
                before=before if share else dict(before),
                after=(other if i % 3 == 0 else after)
                if share
                else dict(other if i % 3 == 0 else after),
            )
            for i in range(50)
        ]

    with transaction.atomic():
        shared = audit_record_many(actor=Actor.system("bulk"), events=events(True))
    with transaction.atomic():
        copied = audit_record_many(actor=Actor.system("bulk"), events=events(False))
    stored = {e["seq"]: e for e in AuditEvent.objects.values()}
    for record in shared + copied:
        row = stored[record["seq"]]
        assert row["hash"] == record["hash"] == compute_hash(row, row["prev_hash"])
    expected = [other if i % 3 == 0 else after for i in range(50)]
    assert [r["after"] for r in shared] == [r["after"] for r in copied] == expected
    # The caller's objects are copied, never stored or encoded by reference to them.
    assert shared[1]["after"] is not after and shared[1]["after"] == after
    assert audit_chain_verify().ok


@pytest.mark.parametrize("count", [1, 9], ids=["one-call", "batch"])
def test_the_database_rebuilds_pythons_text_for_every_character(count):
    # Each event is stored only if the text the database rebuilds (its own JSON escapes of
    # the actor and request, its own print of the address) is the one hashed here; a
    # lone event is hashed by the database itself (audit_append_small), a batch here.
    every = "".join(chr(c) for c in range(1, 128)) + "\u2028 \u00e9 \U0001f600 \ufeff"
    for ip in ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1:0:0:0:1", None):
        with transaction.atomic():
            audit_record_many(
                actor=Actor(
                    type="user", id=every[:64], name=every, source_ip=ip, request_id=every[-60:]
                ),
                events=[
                    PendingEvent(
                        every[:100],
                        target=(every[-100:], every[:64], every),
                        agency_id=-(2**62),
                        before={every: every, "n": [1.5, 1e-07, 2**70, True]},
                        after={"": None},
                    )
                ]
                * count,
            )
    report = audit_chain_verify()
    assert (report.ok, report.events_checked) == (True, 5 * count), report.message


def test_the_one_call_path_is_checked_like_a_batch():
    (row,) = _rows_for([_plain()], "0" * 64, 0, "x").split("\n")
    fields = row.split("\t")[:7]
    fields[1] = "7"  # hashed as sent by the database, but not a JSON string
    with (
        pytest.raises(DatabaseError, match="seq 1 is malformed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT * FROM audit_append_small(%s, %s, %s, %s, %s, %s)",
            ["system", "", "system:x", None, "", "\t".join(fields)],
        )
    assert not AuditEvent.objects.exists()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT first_seq, first_prev, hashes FROM audit_append_small(%s, %s, %s, %s, %s, %s)",
            ["system", "", "system:x", None, "", "\t".join(row.split("\t")[:7])],
        )
        assert cursor.fetchone()[:2] == (1, "0" * 64)
    assert audit_chain_verify().ok


def _rows_for(records, prev, seq, time):
    shared = records[0]
    heads, middle, tails, fields = batch_pieces(records, shared)
    hashes = batch_hashes(heads, middle, tails, seq=seq, prev=prev, time=time)
    return "\n".join(f"{row}{digest}" for row, digest in zip(fields, hashes, strict=True))


def _plain(**changes):
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
        "after": {"ok": True},
        "request_id": "",
    }
    return dict(record, **changes)


def _append_rows(cursor, rows, actor=("system", "", "system:x", None, "")):
    cursor.execute("SELECT audit_append_rows(%s, %s, %s, %s, %s, %s)", [*actor, rows])
    return cursor.fetchone()[0]


def test_append_rows_stores_what_it_checked_and_moves_the_head():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev, _, time = cursor.fetchone()
        records = [_plain(target_id=str(i), after={"i": i}) for i in range(3)]
        assert _append_rows(cursor, _rows_for(records, prev, seq, time)) == 3
    head = ChainHead.objects.get()
    assert head.seq == 3 and head.hash == AuditEvent.objects.get(seq=3).hash
    assert list(AuditEvent.objects.values_list("target_id", flat=True)) == ["0", "1", "2"]
    assert audit_chain_verify().ok


def _refused(rows_of, match):
    """``rows_of(seq, prev, time)`` built after a lock; the append must refuse it."""
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev, _, time = cursor.fetchone()
        _append_rows(cursor, rows_of(seq, prev, time))
    assert not AuditEvent.objects.exists()


def _text(fields, seq, prev, time):
    """Version 1 text of one of `_plain`'s rows, read straight off its fields."""
    action, target_type, target_id, target_repr, agency, before, after = fields[:7]
    return (
        f'{{"action":{action},"actor_id":"","actor_name":"system:x","actor_type":"system"'
        f',"after":{after},"agency_id":{agency},"before":{before},"occurred_at":"{time}"'
        f',"prev_hash":"{prev}","request_id":"","seq":{seq},"source_ip":null'
        f',"target_id":{target_id},"target_repr":{target_repr},"target_type":{target_type}'
        ',"v":1}'
    ).encode()


def _tampered(row_index, field_index, value, *, rehash):
    """Three rows with one field replaced; with ``rehash``, every hash fits the new text."""

    def rows_of(seq, prev, time):
        rows = _rows_for([_plain()] * 3, prev, seq, time).split("\n")
        lines = [line.split("\t") for line in rows]
        lines[row_index][field_index] = value
        if rehash:
            for line in lines:
                seq += 1
                line[7] = prev = hashlib.sha256(_text(line, seq, prev, time)).hexdigest()
        return "\n".join("\t".join(line) for line in lines)

    return rows_of


@pytest.mark.parametrize(
    ("rows_of", "match"),
    [
        # A hash that is not the text's (any row: each one's link is the one before).
        (_tampered(1, 7, "f" * 64, rehash=False), "seq 2 is malformed or its hash does not"),
        # A field changed after hashing: the stored column would not be what was hashed.
        (_tampered(2, 0, '"smuggled"', rehash=False), "seq 3 is malformed or its hash"),
        # Hashed as sent, but stored it would read back differently: a text column that is
        # not a JSON string, an agency that is not a plain integer.
        (_tampered(0, 1, "7", rehash=True), "seq 1 is malformed"),
        (_tampered(0, 4, "007", rehash=True), "seq 1 is malformed"),
        # Another link: the chain hashed from a head that is not the head.
        (lambda seq, prev, time: _rows_for([_plain()], "a" * 64, seq, time), "seq 1"),
        (lambda seq, prev, time: _rows_for([_plain()], prev, seq + 5, time), "seq 1"),
        # Another time than the lock's.
        (
            lambda seq, prev, time: _rows_for([_plain()], prev, seq, "2020-01-01T00:00:00.000000Z"),
            "seq 1",
        ),
        (lambda seq, prev, time: _rows_for([_plain()], prev, seq, time) + "\tx", "seq 1"),
        (lambda seq, prev, time: "", "no rows"),
    ],
)
def test_append_rows_refuses_what_does_not_fit(rows_of, match):
    _refused(rows_of, match)


@pytest.mark.django_db(transaction=True)
def test_append_rows_refuses_a_head_it_did_not_lock():
    # Locked in an earlier transaction (a real one: not a savepoint of the test's), so
    # this one did not stamp the head and may not append.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev, _, time = cursor.fetchone()
    rows = _rows_for([_plain()], prev, seq, time)
    with (
        pytest.raises(DatabaseError, match="call audit_lock_head"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _append_rows(cursor, rows)
    assert not AuditEvent.objects.exists()
