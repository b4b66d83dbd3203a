"""The application's database role cannot change or un-protect the audit table."""

import os

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection

from audit.actor import Actor
from audit.services import audit_record_standalone


@pytest.fixture
def app_role(transactional_db):
    name = f"sundown_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {name}")
        cursor.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'app-pass'")
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {name}")
        cursor.execute(f"DROP ROLE {name}")


def _connect_as(role):
    settings = connection.settings_dict
    conn = psycopg2.connect(
        host="127.0.0.1", port=5432, dbname=settings["NAME"], user=role, password="app-pass"
    )
    conn.autocommit = True
    return conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_no_update",
        "SET session_replication_role = replica",
        "DROP TRIGGER audit_no_update ON audit_auditevent",
    ],
)
def test_app_role_cannot_touch_audit_rows_or_triggers(app_role, statement):
    audit_record_standalone(actor=Actor.system("test"), action="test.event")
    call_command("grant_app_role", app_role)
    conn = _connect_as(app_role)
    try:
        with pytest.raises(psycopg2.Error) as exc, conn.cursor() as cursor:
            cursor.execute(statement)
        assert exc.value.pgcode in {"42501", "42P01"} or "must be owner" in str(exc.value)
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*), min(action) FROM audit_auditevent")
            assert cursor.fetchone() == (1, "test.event")
    finally:
        conn.close()


def test_app_role_can_work_and_append(app_role):
    call_command("grant_app_role", app_role)
    conn = _connect_as(app_role)
    try:
        with conn.cursor() as cursor:
            for table, privilege, allowed in [
                ("audit_auditevent", "SELECT", True),
                ("audit_auditevent", "INSERT", False),
                ("audit_chainhead", "SELECT", True),
                ("audit_chainhead", "INSERT", False),
                ("audit_chainhead", "UPDATE", False),
                ("audit_chainhead", "DELETE", False),
                ("audit_verificationrun", "INSERT", True),
                ("audit_verificationrun", "UPDATE", False),
                ("audit_verificationrun", "DELETE", False),
                ("audit_treenode", "UPDATE", False),
                ("audit_checkpoint", "DELETE", False),
                ("vendors_contract", "UPDATE", True),
                ("access_credential", "DELETE", True),
            ]:
                cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                assert cursor.fetchone()[0] is allowed, (table, privilege)
            for function in (
                "audit_lock_head()",
                "audit_append_rows(text, text, text, text, text, text)",
                "audit_append_small(text, text, text, text, text, text)",
            ):
                cursor.execute("SELECT has_function_privilege(%s, 'EXECUTE')", [function])
                assert cursor.fetchone()[0] is True, function
            # 0007's function is gone: one way in.
            cursor.execute("SELECT to_regprocedure('audit_append(text[], text, text[])')")
            assert cursor.fetchone()[0] is None
    finally:
        conn.close()


def _app_append(conn, action):
    """Append the way the application does, as the application's role."""
    from audit.hashing import batch_hashes, batch_pieces

    record = {
        "actor_type": "system",
        "actor_id": "",
        "actor_name": "system:app-role",
        "source_ip": None,
        "action": action,
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "agency_id": None,
        "before": None,
        "after": {"ok": True},
        "request_id": "r",
    }
    heads, middle, tails, fields = batch_pieces([record], record)
    with conn.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev, _, time = cursor.fetchone()
        (digest,) = batch_hashes(heads, middle, tails, seq=seq, prev=prev, time=time)
        cursor.execute(
            "SELECT audit_append_rows(%s, %s, %s, %s, %s, %s)",
            ["system", "", "system:app-role", None, "r", fields[0] + digest],
        )
        cursor.execute("COMMIT")
        return seq + 1


@pytest.mark.parametrize(
    "statement",
    [
        # Rewind the head, or wedge every later append on a duplicate seq.
        "UPDATE audit_chainhead SET seq = 0",
        "UPDATE audit_chainhead SET hash = repeat('f', 64)",
        # Stamp the head itself to pick the time of its next events.
        "UPDATE audit_chainhead SET locked_at = now() - interval '1 year'",
        "DELETE FROM audit_chainhead",
        "TRUNCATE audit_chainhead",
        # Append a row of its choosing (seq, link, time, a valid hash of a forgery).
        "INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, actor_name,"
        " action, target_type, target_id, target_repr, request_id, hash_version, prev_hash,"
        " hash) VALUES (2, now(), 'system', '', 'x', 'forged', '', '', '', '', 1,"
        " repeat('0', 64), repeat('a', 64))",
        # Plant an "ok" verification, or hide a failed one.
        "UPDATE audit_verificationrun SET ok = true",
        "DELETE FROM audit_verificationrun",
        "UPDATE audit_checkpoint SET size = 0",
        "DELETE FROM audit_treenode",
    ],
)
def test_app_role_cannot_wedge_rewind_or_forge(app_role, statement):
    from audit.models import VerificationRun
    from audit.selectors import audit_chain_verify

    audit_record_standalone(actor=Actor.system("test"), action="test.event")
    VerificationRun.objects.create(ok=False, events_checked=1, first_bad_seq=1, message="bad")
    call_command("grant_app_role", app_role)
    conn = _connect_as(app_role)
    try:
        with pytest.raises(psycopg2.Error) as exc, conn.cursor() as cursor:
            cursor.execute(statement)
        assert exc.value.pgcode == "42501", exc.value
        # The chain still takes appends (as the app role, through the function)...
        assert _app_append(conn, "after.attempt") == 2
    finally:
        conn.close()
    # ...and verifies end to end, and the failed run is still there.
    report = audit_chain_verify()
    assert report.ok and report.events_checked == 2, report.message
    assert VerificationRun.objects.get().ok is False


def test_refuses_superuser_role(transactional_db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", "postgres")
