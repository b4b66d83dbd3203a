"""audit_append in bulk: the batch is parsed before the head lock, and the hash indexes go.

0006 parsed each event's text into its columns while it held the chain head, so
concurrent appenders queued behind JSON parsing. Here every event's canonical pieces
are parsed first (a row's columns do not depend on its seq, time or link); under the
lock remain the hashing (the chain is sequential), one multi-row insert and one head
update. The time is now read under the lock, so it never runs backwards along the chain.

The unique index on ``hash`` (and its pattern-ops twin) served no read: nothing looks
an event up by its hash, proofs and exports go by seq. Its random keys made it the
costliest part of an append. Uniqueness of a hash adds nothing to the seq primary key:
each hash covers its own seq and its predecessor's hash.
"""

from django.db import migrations, models

from audit.migrations_sql import PG_APPEND_BULK, PG_APPEND_ONE_PASS


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_BULK, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_ONE_PASS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_append_one_pass")]
    operations = [
        migrations.AlterField(
            model_name="auditevent", name="hash", field=models.CharField(max_length=64)
        ),
        migrations.RunPython(forward, reverse),
    ]
