"""Credential pages keep half their room free, so a claim rewrites its row in place.

A revocation writes every credential row three times: the request (active -> pending),
the batch's claim (its lease and attempt count) and the outcome. The claim changes no
indexed column, so PostgreSQL can write it as a heap-only tuple (no new entry in any of
the table's five indexes) if the row's page has room for the new version. Packed full,
no page had: every claim went to a new page and into every index. With half of each
page free, about two claims in three stay on their page (30,000 credentials revoked in
the scratch harness, load ~1: 424 -> ~20,000 heap-only updates; the claim's UPDATE 18.1
-> 7.5 us per credential; the batches' backend 67 -> 55 us per credential). 70 left
too little room (13,000 heap-only, claim 12.1 us); 30 did no better than 50.

The table is one row per credential a vendor holds: twice the pages is a few tens of
megabytes at 100,000 credentials. Only pages written from now on are affected;
existing ones fill up to it as rows are updated. SQLite has no such setting.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE access_credential SET (fillfactor = 50)")


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE access_credential RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("access", "0006_lean_indexes")]
    operations = [migrations.RunPython(forward, reverse)]
