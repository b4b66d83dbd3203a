"""The audit trail on a real PostgreSQL: append-only, hash-chained, verifiable."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from audit.actor import Actor
from audit.models import AuditEvent, ChainHead
from audit.selectors import audit_chain_verify
from audit.services import audit_record, audit_record_standalone

pytestmark = pytest.mark.django_db


def _append(n, actor=None):
    actor = actor or Actor.system("test")
    for i in range(n):
        audit_record_standalone(
            actor=actor,
            action="test.event",
            target=("test.thing", i, f"thing {i}"),
            before={"i": i},
            after={"i": i + 1, "note": "ünïcode ✓"},
        )


@pytest.mark.django_db(transaction=True)
def test_audit_record_requires_the_change_transaction():
    with pytest.raises(RuntimeError):
        audit_record(actor=Actor.system(), action="x")


def test_chain_links_and_verifies():
    _append(5)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (5, events[-1].hash)
    report = audit_chain_verify()
    assert report.ok and report.events_checked == 5
    call_command("audit_verify")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'forged' WHERE seq = 1",
        "DELETE FROM audit_auditevent WHERE seq = 1",
        "TRUNCATE audit_auditevent",
    ],
)
def test_database_refuses_changes(statement):
    _append(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 2
    assert AuditEvent.objects.get(seq=1).action == "test.event"


def test_orm_cannot_change_events():
    _append(1)
    event = AuditEvent.objects.get(seq=1)
    event.action = "forged"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()


def _as_superuser_bypassing_triggers(sql, params=()):
    """What an attacker with superuser rights can do: switch triggers off and edit."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = origin")


def _verify_fails_at(seq):
    report = audit_chain_verify()
    assert not report.ok
    assert report.first_bad_seq == seq, report.message
    with pytest.raises(CommandError, match=f"seq {seq}"):
        call_command("audit_verify")


def test_verify_names_an_altered_event():
    _append(6)
    _as_superuser_bypassing_triggers(
        "UPDATE audit_auditevent SET after = '{\"i\": 999}' WHERE seq = 4"
    )
    _verify_fails_at(4)


def test_verify_names_an_altered_actor_even_with_recomputed_link():
    _append(4)
    _as_superuser_bypassing_triggers(
        "UPDATE audit_auditevent SET actor_name = 'someone else' WHERE seq = 2"
    )
    _verify_fails_at(2)


def test_verify_names_a_removed_event():
    _append(6)
    _as_superuser_bypassing_triggers("DELETE FROM audit_auditevent WHERE seq = 3")
    _verify_fails_at(3)


def test_verify_names_a_removed_tail():
    _append(5)
    _as_superuser_bypassing_triggers("DELETE FROM audit_auditevent WHERE seq = 5")
    _verify_fails_at(5)


def test_verify_names_swapped_events():
    _append(6)
    # Swap the positions of seq 2 and 5 in the chain.
    _as_superuser_bypassing_triggers("UPDATE audit_auditevent SET seq = -2 WHERE seq = 2")
    _as_superuser_bypassing_triggers("UPDATE audit_auditevent SET seq = 2 WHERE seq = 5")
    _as_superuser_bypassing_triggers("UPDATE audit_auditevent SET seq = 5 WHERE seq = -2")
    _verify_fails_at(2)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_leave_no_gap_and_no_fork():
    threads, per_thread = 8, 25  # 200 appends from 8 connections
    barrier = threading.Barrier(threads)
    errors = []

    def worker(n):
        try:
            barrier.wait()
            _append(per_thread, Actor.system(f"thread-{n}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, threads * per_thread + 1))
    prev = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prev)) == len(prev), "two events share a parent: the chain forked"
    assert audit_chain_verify().ok
    assert {
        name for name in AuditEvent.objects.values_list("actor_name", flat=True).distinct()
    } == {f"system:thread-{n}" for n in range(threads)}


def test_event_records_actor_and_request():
    user_actor = Actor(type="user", id="7", name="alice", source_ip="::ffff:0:1", request_id="r9")
    with transaction.atomic():
        event = audit_record(actor=user_actor, action="test.actor", agency_id=3)
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_type, event.actor_id, event.actor_name) == ("user", "7", "alice")
    assert event.request_id == "r9" and event.agency_id == 3
    assert audit_chain_verify().ok


def test_unknown_hash_version_is_reported_at_its_seq_not_a_crash():
    _append(4)
    _as_superuser_bypassing_triggers("UPDATE audit_auditevent SET hash_version = 2 WHERE seq = 3")
    _verify_fails_at(3)
    assert "unknown hash version 2" in audit_chain_verify().message


def test_batch_pieces_rebuild_the_canonical_text():
    from datetime import UTC, datetime

    from audit.hashing import batch_pieces, canonical, format_time

    record = {
        "seq": 12,
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC),
        "actor_type": "user",
        "actor_id": "7",
        "actor_name": 'Zoë "quoted" \\ name',
        "source_ip": "2001:db8::1",
        "action": "contract.end_date_changed",
        "target_type": "vendors.contract",
        "target_id": "9",
        "target_repr": "C-9 \u2603",
        "agency_id": 3,
        "before": {"end_date": "2026-01-01", "nested": {"occurred_at": "x", "seq": 1}},
        "after": None,
        "request_id": "req\n1",
    }
    (head,), middle, (tail,), _ = batch_pieces([record], record)
    joined = f'{head}{format_time(record["occurred_at"])}","prev_hash":"{"a" * 64}{middle}12{tail}'
    assert joined.encode() == canonical(record, "a" * 64)


def test_database_function_hashes_exactly_what_python_would():
    _append(3)
    for event in AuditEvent.objects.order_by("seq").values():
        from audit.hashing import compute_hash

        assert compute_hash(event, event["prev_hash"]) == event["hash"]
