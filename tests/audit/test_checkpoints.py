"""Signed checkpoints catch a chain that was rewritten and fully re-hashed."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.actor import Actor
from audit.hashing import COLUMNS, compute_hash
from audit.models import AuditEvent
from audit.services import audit_record_standalone

pytestmark = pytest.mark.django_db


def _append(n):
    for i in range(n):
        audit_record_standalone(actor=Actor.system("t"), action="test.event", after={"i": i})


def _rewrite_and_rehash(seq, **changes):
    """The attacker with superuser rights: edit an event and recompute every later hash."""
    columns = COLUMNS
    rows = [
        dict(zip(columns, r, strict=True))
        for r in AuditEvent.objects.order_by("seq").values_list(*columns)
    ]
    prev = "0" * 64
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for row in rows:
            if row["seq"] == seq:
                row.update(changes)
            digest = compute_hash(row, prev)
            cursor.execute(
                "UPDATE audit_auditevent SET actor_name = %s, prev_hash = %s, hash = %s "
                "WHERE seq = %s",
                [row["actor_name"], prev, digest, row["seq"]],
            )
            prev = digest
        cursor.execute("UPDATE audit_chainhead SET hash = %s", [prev])
        cursor.execute("SET session_replication_role = origin")


def test_checkpoint_verifies_then_catches_a_rehashed_chain(tmp_path, capsys):
    out = tmp_path / "checkpoints.jsonl"
    _append(3)
    call_command("audit_checkpoint", "--out", str(out))
    _append(2)
    call_command("audit_checkpoint", "--out", str(out))
    record = json.loads(out.read_text().splitlines()[0])
    assert record["seq"] == 3 and len(record["sig"]) == 64
    call_command("audit_verify", "--checkpoints", str(out))
    assert "2 signed checkpoints match" in capsys.readouterr().out

    _rewrite_and_rehash(2, actor_name="someone innocent")
    call_command("audit_verify")  # the chain alone looks intact...
    with pytest.raises(CommandError, match="seq 3 differs from its signed checkpoint"):
        call_command("audit_verify", "--checkpoints", str(out))  # ...the checkpoint does not


def test_forged_checkpoint_is_refused(tmp_path):
    _append(2)
    out = tmp_path / "checkpoints.jsonl"
    call_command("audit_checkpoint", "--out", str(out))
    record = json.loads(out.read_text())
    record["hash"] = "f" * 64
    out.write_text(json.dumps(record) + "\n")
    with pytest.raises(CommandError, match="bad signature"):
        call_command("audit_verify", "--checkpoints", str(out))
