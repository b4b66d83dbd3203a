"""Fewer index entries per revocation write, and the claim's order in its index.

Each state change of a credential (request, claim, outcome) writes a new row version
and an entry in every index of the table. The single-column indexes Django made for
``vendor`` and ``system`` repeat the first column of (vendor, status) and of the
unique (system, external_id), so they go. The work-queue index gains ``id``: the
claim orders by (next_attempt_at, id), and the 100,000 rows a mass contract end makes
pending all share one next_attempt_at.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0005_time_policies"),
        ("vendors", "0004_attestation"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="credential",
            name="credential_pending_idx",
        ),
        migrations.AlterField(
            model_name="credential",
            name="system",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credentials",
                to="access.system",
            ),
        ),
        migrations.AlterField(
            model_name="credential",
            name="vendor",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credentials",
                to="vendors.vendor",
            ),
        ),
        migrations.AddIndex(
            model_name="credential",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["system", "next_attempt_at", "id"],
                name="credential_pending_idx",
            ),
        ),
    ]
