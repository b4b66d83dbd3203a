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
            for table, privilege in [
                ("audit_auditevent", "INSERT"),
                ("audit_auditevent", "SELECT"),
                ("audit_chainhead", "UPDATE"),
                ("vendors_contract", "UPDATE"),
                ("access_credential", "DELETE"),
            ]:
                cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                assert cursor.fetchone()[0], (table, privilege)
    finally:
        conn.close()


def test_refuses_superuser_role(transactional_db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", "postgres")
