"""One index on ``action`` instead of two.

``db_index=True`` on a CharField gives PostgreSQL two indexes: a plain one and a
``varchar_pattern_ops`` twin for LIKE 'prefix%'. The twin serves equality as well
(the dashboard's and the API's action filters), so the plain one was only a cost: every
append updates each index of the events, and this one was a fifth of the insert.
The twin stays, renamed to the name the model now gives it. SQLite had one plain index;
it gets the same name (dropped and created: changing the column would rebuild the table
and lose the triggers that keep it append-only).
"""

from django.db import migrations, models

_PG_INDEXES = """
SELECT i.relname, pg_get_indexdef(x.indexrelid) LIKE '%varchar_pattern_ops%'
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'audit_auditevent'::regclass AND NOT x.indisunique
  AND x.indnatts = 1 AND x.indkey[0] = (SELECT attnum FROM pg_attribute
      WHERE attrelid = 'audit_auditevent'::regclass AND attname = 'action')
"""
NAME = "audit_action_idx"
# What Django named them in 0001 (the reverse puts them back).
PLAIN, LIKE = "audit_auditevent_action_2131bb77", "audit_auditevent_action_2131bb77_like"


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_INDEXES)
            found = cursor.fetchall()
        patterns = [name for name, pattern in found if pattern]
        for name, pattern in found:
            if not pattern or name != patterns[0]:
                schema_editor.execute(f'DROP INDEX "{name}"')
        if patterns:
            schema_editor.execute(f'ALTER INDEX "{patterns[0]}" RENAME TO {NAME}')
        else:
            schema_editor.execute(
                f"CREATE INDEX {NAME} ON audit_auditevent (action varchar_pattern_ops)"
            )
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA index_list('audit_auditevent')")
        names = [row[1] for row in cursor.fetchall()]
        on_action = []
        for name in names:
            cursor.execute(f"PRAGMA index_info('{name}')")
            if [row[2] for row in cursor.fetchall()] == ["action"]:
                on_action.append(name)
    for name in on_action:
        schema_editor.execute(f'DROP INDEX "{name}"')
    schema_editor.execute(f"CREATE INDEX {NAME} ON audit_auditevent (action)")


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER INDEX {NAME} RENAME TO "{LIKE}"')
        schema_editor.execute(f'CREATE INDEX "{PLAIN}" ON audit_auditevent (action)')
    else:
        schema_editor.execute(f"DROP INDEX {NAME}")
        schema_editor.execute(f'CREATE INDEX "{PLAIN}" ON audit_auditevent (action)')


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_append_rows")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(max_length=100),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(
                        fields=["action"], name=NAME, opclasses=["varchar_pattern_ops"]
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, reverse)],
        )
    ]
