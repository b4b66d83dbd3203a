"""Migrations 0008 and 0009 on a database that already holds a trail appended by 0007."""

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from audit.actor import Actor
from audit.hashing import batch_pieces
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import PendingEvent, audit_record_many

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(target=None):
    """To ``target``, or back to the newest audit migration (as every other test expects)."""
    executor = MigrationExecutor(connection)
    targets = [("audit", target)] if target else executor.loader.graph.leaf_nodes("audit")
    executor.migrate(targets)


def _append_with_0007(action, count):
    """What 0007's application sent: canonical pieces; the function hashed them."""
    records = [
        {
            "actor_type": "system",
            "actor_id": "",
            "actor_name": "system:old",
            "source_ip": "192.0.2.7",
            "action": action,
            "target_type": "access.credential",
            "target_id": str(i),
            "target_repr": f"role_{i}",
            "agency_id": 1,
            "before": {"status": "active"},
            "after": {"status": "revoked", "n": i},
            "request_id": "old",
        }
        for i in range(count)
    ]
    heads, middle, tails, _ = batch_pieces(records, records[0])
    # 0007's middle piece was the request id alone; its suffix started at source_ip.
    old_middle = middle.removeprefix('","').removesuffix(',"seq":')
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT first_seq FROM audit_append(%s, %s, %s)",
            [heads, '"' + old_middle, [tail.removeprefix(",") for tail in tails]],
        )


def _action_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent'"
            " AND indexdef LIKE '%(action%'"
        )
        return sorted(row[0].split(" USING ")[1] for row in cursor.fetchall())


def test_an_existing_trail_keeps_verifying_and_grows_after_0008():
    try:
        _migrate("0007_append_bulk")
        assert _action_indexes() == ["btree (action varchar_pattern_ops)", "btree (action)"]
        _append_with_0007("old.event", 300)
        assert audit_chain_verify().ok
    finally:
        _migrate()
    # One index on action, the one that serves LIKE 'prefix%' and equality.
    assert _action_indexes() == ["btree (action varchar_pattern_ops)"]
    with transaction.atomic():
        audit_record_many(
            actor=Actor.system("new"),
            events=[PendingEvent("new.event", after={"i": i}) for i in range(300)],
        )
    report = audit_chain_verify()
    assert (report.ok, report.events_checked) == (True, 600), report.message
    assert AuditEvent.objects.filter(action="old.event").count() == 300
    call_command("audit_verify", "--no-record")
