"""A few events appended in one call: the database hashes them (``audit_append_small``).

0008's two calls (lock, then append) cost a lone event a second round trip while it
held the chain head: one event per transaction ran ~15-25% slower than with 0007 (see
README). Up to a handful of events now go in one call that locks the head, hashes them
in the database from the fields it is given, and hands them to ``audit_append_rows``,
which checks and stores them exactly as before. Batches keep 0008's path.
"""

from django.db import migrations

from audit.migrations_sql import PG_APPEND_SMALL


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_SMALL, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION audit_append_small(text, text, text, text, text, text)", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_action_index")]
    operations = [migrations.RunPython(forward, reverse)]
