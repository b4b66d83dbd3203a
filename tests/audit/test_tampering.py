"""Fifteen ways someone with database superuser rights rewrites the trail, each caught.

Checkpoints come from the beat's task, as in production (one after seq 6, one
after seq 10), shipped to a file sink; each scenario then tampers as a superuser
and `audit_verify --checkpoints` must name the first bad seq. (What the
application's own role cannot do at all is in test_app_role.py.)
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.actor import Actor
from audit.hashing import COLUMNS, GENESIS_HASH, compute_hash
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import PendingEvent, audit_record_many, audit_record_standalone
from audit.tasks import audit_checkpoint_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(tmp_path, settings):
    sink = tmp_path / "checkpoints.jsonl"
    settings.SUNDOWN_CHECKPOINT_SINKS = [f"file:{sink}"]
    for i in range(10):
        audit_record_standalone(
            actor=Actor.system("worker"),
            action="credential.revoked",
            target=("access.credential", i, f"role_{i}"),
            after={"i": i},
        )
        if i + 1 in (6, 10):
            audit_checkpoint_task()
    call_command("audit_verify", "--checkpoints", str(sink))
    return sink


def _sql(*statements):
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for statement in statements:
                if isinstance(statement, tuple):
                    cursor.execute(*statement)
                else:
                    cursor.execute(statement)
        finally:
            cursor.execute("SET session_replication_role = origin")


def _rows():
    return [
        dict(zip(COLUMNS, r, strict=True))
        for r in AuditEvent.objects.order_by("seq").values_list(*COLUMNS)
    ]


def _rewrite(rows, *, from_seq=1, head=True):
    """Replace the table with ``rows`` renumbered and re-chained from ``from_seq`` on."""
    prev = GENESIS_HASH
    statements = ["DELETE FROM audit_auditevent"]
    for seq, row in enumerate(rows, 1):
        row = dict(row, seq=seq)
        if seq >= from_seq:
            row["prev_hash"] = prev
            row["hash"] = compute_hash(row, prev)
        prev = row["hash"]
        values = [row[c] for c in COLUMNS]
        for i, name in enumerate(COLUMNS):
            if name in ("before", "after") and values[i] is not None:
                import json

                values[i] = json.dumps(values[i])
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        statements.append(
            (f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) VALUES ({placeholders})", values)
        )
    if head:
        statements.append(("UPDATE audit_chainhead SET seq = %s, hash = %s", [len(rows), prev]))
    _sql(*statements)


def _caught_at(sink, seq):
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify", "--checkpoints", str(sink))
    assert f"BROKEN at seq {seq}:" in str(exc.value), str(exc.value)


def _edited(rows, seq, **changes):
    return [dict(r, **changes) if r["seq"] == seq else r for r in rows]


def test_01_field_edited(trail):
    _sql("UPDATE audit_auditevent SET after = '{\"i\": 99}' WHERE seq = 4")
    _caught_at(trail, 4)


def test_02_field_edited_and_its_own_hash_recomputed(trail):
    row = _edited(_rows(), 4, actor_name="someone else")[3]
    _sql(
        (
            "UPDATE audit_auditevent SET actor_name = %s, hash = %s WHERE seq = 4",
            [row["actor_name"], compute_hash(row, row["prev_hash"])],
        )
    )
    _caught_at(trail, 4)


def test_03_event_deleted(trail):
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")
    _caught_at(trail, 5)


def test_04_last_event_deleted(trail):
    _sql("DELETE FROM audit_auditevent WHERE seq = 10")
    _caught_at(trail, 10)


def test_05_events_swapped(trail):
    _sql(
        "UPDATE audit_auditevent SET seq = -2 WHERE seq = 2",
        "UPDATE audit_auditevent SET seq = 2 WHERE seq = 5",
        "UPDATE audit_auditevent SET seq = 5 WHERE seq = -2",
    )
    _caught_at(trail, 2)


def test_06_link_edited(trail):
    _sql("UPDATE audit_auditevent SET prev_hash = repeat('e', 64) WHERE seq = 7")
    _caught_at(trail, 7)


def test_07_tail_deleted_and_head_rewound(trail):
    rows = _rows()
    _sql(
        "DELETE FROM audit_auditevent WHERE seq > 7",
        ("UPDATE audit_chainhead SET seq = 7, hash = %s", [rows[6]["hash"]]),
    )
    assert audit_chain_verify().ok  # the chain alone looks intact
    _caught_at(trail, 8)


def test_08_event_edited_and_whole_chain_recomputed(trail):
    _rewrite(_edited(_rows(), 3, actor_name="someone innocent"))
    assert audit_chain_verify().ok  # the chain alone looks intact; the checkpoints do not
    _caught_at(trail, 3)


def test_09_edit_after_one_checkpoint_recomputed_before_the_next_beat_is_too_late(trail):
    # seq 8 was written after the checkpoint at 6; the beat covered it at 10.
    _rewrite(_edited(_rows(), 8, after={"i": "changed"}))
    _caught_at(trail, 8)


def test_10_event_inserted_and_chain_recomputed(trail):
    rows = _rows()
    forged = dict(rows[3], action="credential.revoked", target_repr="a forged revocation")
    _rewrite([*rows[:4], forged, *rows[4:]])
    _caught_at(trail, 5)


def test_11_forged_row_with_a_valid_hash_appended(trail):
    last = _rows()[-1]
    forged = dict(last, seq=11, action="credential.revoked", target_repr="backdated")
    forged["prev_hash"] = last["hash"]
    forged["hash"] = compute_hash(forged, last["hash"])
    _rewrite([*_rows(), forged], head=False)
    _caught_at(trail, 11)


def test_12_all_rows_and_the_head_deleted(trail):
    _sql("DELETE FROM audit_auditevent", "DELETE FROM audit_chainhead")
    _caught_at(trail, 1)


def test_13_unknown_hash_version(trail):
    _sql("UPDATE audit_auditevent SET hash_version = 2 WHERE seq = 6")
    _caught_at(trail, 6)


def test_14_head_rewound_alone(trail):
    rows = _rows()
    _sql(("UPDATE audit_chainhead SET seq = 7, hash = %s", [rows[6]["hash"]]))
    _caught_at(trail, 8)


def test_15_stored_tree_node_rewritten_to_forge_proofs(tmp_path, settings):
    sink = tmp_path / "checkpoints.jsonl"
    settings.SUNDOWN_CHECKPOINT_SINKS = [f"file:{sink}"]
    with transaction.atomic():
        audit_record_many(
            actor=Actor.system("bulk"),
            events=[PendingEvent("test.event", after={"i": i}) for i in range(300)],
        )
    audit_checkpoint_task()
    _sql("UPDATE audit_treenode SET hash = decode(repeat('ab', 32), 'hex') WHERE level = 8")
    _caught_at(sink, 1)
