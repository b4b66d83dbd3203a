"""Signed checkpoints: key files, the C2SP formats (checked by independent code), beat, sinks."""

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.actor import Actor
from audit.checkpoints import CheckpointError, checkpoint_create
from audit.hashing import COLUMNS
from audit.models import AuditEvent, Checkpoint
from audit.selectors import checkpoint_latest
from audit.services import audit_record_standalone
from audit.signing import signing_key
from audit.tasks import audit_checkpoint_task
from audit.tree import event_leaf_data
from tests.audit import independent

pytestmark = pytest.mark.django_db


def _append(n):
    for i in range(n):
        audit_record_standalone(actor=Actor.system("t"), action="test.event", after={"i": i})


def _leaf_data():
    return [
        event_leaf_data(dict(zip(COLUMNS, row, strict=True)))
        for row in AuditEvent.objects.order_by("seq").values_list(*COLUMNS)
    ]


def test_keygen_writes_a_private_key_file_and_prints_its_verifier(tmp_path, capsys):
    path = tmp_path / "keys" / "audit.key"
    call_command("audit_keygen", "--out", str(path), "--name", "agency.example/audit")
    verifier = capsys.readouterr().out.strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+agency.example/audit+")
    name, _, public = independent.parse_verifier_key(verifier)
    assert name == "agency.example/audit" and len(public) == 32
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("audit_keygen", "--out", str(path))


def test_checkpoint_is_a_c2sp_signed_checkpoint_of_the_rfc6962_root(capsys):
    _append(5)
    call_command("audit_verifier_key")
    verifier = capsys.readouterr().out.strip()
    call_command("audit_checkpoint")
    note = capsys.readouterr().out
    origin, size, root = independent.open_checkpoint(note, verifier)
    assert origin == settings.SUNDOWN_AUDIT_ORIGIN == verifier.split("+")[0]
    assert size == 5
    assert root == independent.mth(_leaf_data())
    assert checkpoint_latest().note == note
    # One byte changed anywhere in the note and the signature fails.
    for position in (0, note.index("\n") + 1, len(note) - 10):
        changed = note[:position] + chr(ord(note[position]) ^ 1) + note[position + 1 :]
        # A flipped bit in the base64 signature may also stop it decoding (ValueError):
        # a refusal all the same.
        with pytest.raises((AssertionError, ValueError)):
            independent.open_checkpoint(changed, verifier)


def test_beat_schedules_the_checkpoint_task():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == "audit.checkpoint"
    assert entry["schedule"] == float(settings.SUNDOWN_CHECKPOINT_SECONDS) == 60.0


def test_task_ships_to_the_file_sink_with_the_leaf_hashes(tmp_path, settings):
    sink = tmp_path / "sink" / "checkpoints.jsonl"
    settings.SUNDOWN_CHECKPOINT_SINKS = [f"file:{sink}"]
    _append(3)
    assert audit_checkpoint_task() == 3
    _append(2)
    assert audit_checkpoint_task() == 5
    first, second = (json.loads(line) for line in sink.read_text().splitlines())
    assert (first["size"], first["leaves_from"], second["leaves_from"]) == (3, 0, 3)
    import base64

    shipped = base64.b64decode(first["leaf_hashes"]) + base64.b64decode(second["leaf_hashes"])
    expected = b"".join(hashlib.sha256(b"\0" + d).digest() for d in _leaf_data())
    assert shipped == expected
    assert first["note"] == Checkpoint.objects.get(size=3).note
    call_command("audit_verify", "--checkpoints", str(sink))


def test_refuses_to_sign_a_tree_that_does_not_extend_the_last_checkpoint():
    _append(4)
    checkpoint_create()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'x' WHERE seq = 2")
        cursor.execute("SET session_replication_role = origin")
    with pytest.raises(CheckpointError, match="not an extension of the checkpoint at size 4"):
        checkpoint_create()


def test_a_forged_checkpoint_is_refused(tmp_path):
    from audit.signing import key_generate

    _append(2)
    out = tmp_path / "checkpoints.jsonl"
    call_command("audit_checkpoint", "--out", str(out))
    record = json.loads(out.read_text())
    # Re-signed by someone else's key under the same name: not our key id.
    impostor = key_generate(signing_key().name)
    text = record["note"].split("\n\n")[0] + "\n"
    record["note"] = impostor.sign_note(text.replace("\n2\n", "\n1\n"))
    out.write_text(json.dumps(record) + "\n")
    with pytest.raises(CommandError, match="signature does not verify"):
        call_command("audit_verify", "--checkpoints", str(out))


def test_old_hmac_checkpoints_still_verify(tmp_path, capsys):
    _append(3)
    event = AuditEvent.objects.get(seq=3)
    key = settings.SUNDOWN_AUDIT_LEGACY_HMAC_KEY.encode()
    sig = hmac.new(key, f"sundown-checkpoint-v1:3:{event.hash}".encode(), hashlib.sha256)
    line = {"v": 1, "seq": 3, "hash": event.hash, "at": "2026-01-01", "sig": sig.hexdigest()}
    out = tmp_path / "old.jsonl"
    out.write_text(json.dumps(line) + "\n")
    call_command("audit_verify", "--checkpoints", str(out))
    line["sig"] = "0" * 64
    out.write_text(json.dumps(line) + "\n")
    with pytest.raises(CommandError, match="bad signature"):
        call_command("audit_verify", "--checkpoints", str(out))


def test_checkpoints_also_go_to_a_siem_sink(tmp_path, settings):
    out = tmp_path / "siem.jsonl"
    settings.SUNDOWN_SIEM_SINKS = {"archive": {"kind": "file", "path": str(out)}}
    settings.SUNDOWN_CHECKPOINT_SINKS = ["siem:archive"]
    _append(2)
    checkpoint = checkpoint_create()
    assert json.loads(out.read_text()) == {"size": 2, "note": checkpoint.note}
