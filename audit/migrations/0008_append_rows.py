"""Appends hashed by the application and checked by the database in one statement.

0007 hashed the batch in a PL/pgSQL loop while it held the head, then parsed every
piece back into columns; the loop and the parsing cost more than the insert itself.
Now the append takes two calls in the change's transaction:

- ``audit_lock_head()`` locks the head and stamps it with the database time and this
  transaction's id; it returns seq, hash and that time.
- The application hashes the batch from there (version 1, unchanged) and calls
  ``audit_append_rows(actor..., rows)`` with each event's JSON fields and hash. The
  function takes seq, link and time from the head it stamped (it refuses a head this
  transaction did not lock), rebuilds each event's text from the very fields it stores,
  and inserts only if every hash fits; then it moves the head.

The application's role still cannot pick a seq, a link or a time, nor store a row
whose hash does not fit its columns. `audit_append` goes; `grant_app_role` grants the
two new functions. Nothing about stored events changes: old rows verify as before.
SQLite keeps its triggers (migration 0005) and Python's hashing.
"""

from django.db import migrations

from audit.migrations_sql import PG_APPEND_ROWS, PG_APPEND_ROWS_REVERSE, PG_HEAD_COLUMNS


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_HEAD_COLUMNS + PG_APPEND_ROWS, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_ROWS_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_append_bulk")]
    operations = [migrations.RunPython(forward, reverse)]
