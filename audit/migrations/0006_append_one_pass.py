"""audit_append in one pass over its batch.

The function of 0005 read ``p_pre[i]`` and ``v_texts[i]`` by subscript and parsed each
event's text once per column it inserted; a call cost O(n^2) in its batch (4,000
events: 16 s; bench/audit_tree.py). This one reads the batch with unnest, grows its
results with in-place array_append and parses each text once. Same rules, same rows.
"""

from django.db import migrations

from audit.migrations_sql import PG_APPEND_ONE_PASS, PG_APPEND_SUBSCRIPTS


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_ONE_PASS, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_SUBSCRIPTS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_append_function")]
    operations = [migrations.RunPython(forward, reverse)]
