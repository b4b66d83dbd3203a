"""audit_append in bulk: the batch is parsed before the head lock, and the hash indexes go.

0006 parsed each event's text into its columns while it held the chain head, so
concurrent appenders queued behind JSON parsing. Here every event's canonical pieces
are parsed first (a row's columns do not depend on its seq, time or link); under the
lock remain the hashing (the chain is sequential), one multi-row insert and one head
update. The time is now read under the lock, so it never runs backwards along the chain.

On PostgreSQL, the unique index on ``hash`` (and its pattern-ops twin) served no read: nothing looks
an event up by its hash, proofs and exports go by seq. Its random keys made it the
costliest part of an append. Uniqueness of a hash adds nothing to the seq primary key:
each hash covers its own seq and its predecessor's hash.
"""

from django.db import migrations, models

from audit.migrations_sql import PG_APPEND_BULK, PG_APPEND_ONE_PASS

# Django named them when it made the field unique (0001); found by what they cover.
_HASH_INDEXES = """
SELECT c.conname, NULL FROM pg_constraint c
  WHERE c.conrelid = 'audit_auditevent'::regclass AND c.contype = 'u'
    AND c.conkey = ARRAY[(SELECT attnum FROM pg_attribute
        WHERE attrelid = 'audit_auditevent'::regclass AND attname = 'hash')]
UNION ALL
SELECT NULL, i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
  WHERE x.indrelid = 'audit_auditevent'::regclass AND NOT x.indisunique
    AND pg_get_indexdef(x.indexrelid) LIKE '%(hash varchar_pattern_ops)%'
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        # SQLite keeps its index: changing a column there rebuilds the table, and the
        # rebuild would drop the triggers that keep it append-only.
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_HASH_INDEXES)
        found = cursor.fetchall()
    for constraint, index in found:
        if constraint:
            schema_editor.execute(f'ALTER TABLE audit_auditevent DROP CONSTRAINT "{constraint}"')
        else:
            schema_editor.execute(f'DROP INDEX "{index}"')
    schema_editor.execute(PG_APPEND_BULK, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(PG_APPEND_ONE_PASS, params=None)
    schema_editor.execute(
        "ALTER TABLE audit_auditevent ADD CONSTRAINT audit_auditevent_hash_key UNIQUE (hash)"
    )
    schema_editor.execute(
        "CREATE INDEX audit_auditevent_hash_d0c402da_like"
        " ON audit_auditevent (hash varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_append_one_pass")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent", name="hash", field=models.CharField(max_length=64)
                )
            ],
            database_operations=[migrations.RunPython(forward, reverse)],
        )
    ]
