"""audit_export: enough for a third party to rebuild the tree and check a checkpoint."""

import hashlib
import json

import pytest
from django.core.management import call_command

from audit.actor import Actor
from audit.checkpoints import checkpoint_create
from audit.services import audit_record_standalone
from audit.signing import signing_key
from tests.audit import independent

pytestmark = pytest.mark.django_db


def test_export_rebuilds_the_signed_tree(tmp_path):
    for i in range(7):
        audit_record_standalone(
            actor=Actor.system("t"), action="test.event", after={"i": i, "note": "ünï"}
        )
    note = checkpoint_create().note
    out = tmp_path / "trail.jsonl"
    call_command("audit_export", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 8))
    for line in lines:
        assert hashlib.sha256(line["canonical"].encode()).hexdigest() == line["hash"]
    _, size, root = independent.open_checkpoint(note, signing_key().verifier())
    assert independent.mth([line["canonical"].encode() for line in lines[:size]]) == root

    call_command("audit_export", "--after-seq", "5", "--out", str(out))
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == [6, 7]
