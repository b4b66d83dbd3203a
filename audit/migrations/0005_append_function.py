"""Appends the application's role cannot bend.

PostgreSQL: ``audit_append`` (SECURITY DEFINER, owned by the migrating role) locks
the chain head, assigns seq, prev_hash and the database time itself, assembles the
version-1 canonical text from the pieces the application sends and hashes it. The
application's role gets EXECUTE on it and no INSERT, UPDATE or DELETE on the
events or the head (`grant_app_role`), so it can neither pick a seq, forge a link,
rewind the head nor wedge it. Verification runs, tree nodes and checkpoints refuse
UPDATE and DELETE like the events do.

SQLite has no roles: triggers keep the same rules for the app's own path (an event
must extend the head by one and link to it; the head only ever moves to the last
event; nothing is deleted).
"""

from django.db import migrations

from audit.migrations_sql import PG_FORWARD, PG_REVERSE, SQLITE_FORWARD, SQLITE_REVERSE


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    else:
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    else:
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_tree_checkpoints")]
    operations = [migrations.RunPython(forward, reverse)]
