"""Attempt rows name their credential and system without a database foreign-key check.

The constraints were DEFERRABLE INITIALLY DEFERRED (Django's default): at the commit of
every batch PostgreSQL ran, per attempt row, a lookup of its credential and of its
system, each taking a KEY SHARE row lock; 12% of a batch's backend samples under
`perf` (AfterTriggerFireDeferred), 52-53 -> 44-46 us of backend CPU per credential
without them in the scratch harness (30,000 roles, alternated twice, load ~1). The
only writer (revocation.services.attempts) inserts them in the transaction that has
just updated, and so locked, the credential rows they name. The columns and the
system index stay; PROTECT stays in Django.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0007_credential_fillfactor"),
        ("revocation", "0005_lean_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="revocationattempt",
            name="credential",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="revocation_attempts",
                to="access.credential",
            ),
        ),
        migrations.AlterField(
            model_name="revocationattempt",
            name="system",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="revocation_attempts",
                to="access.system",
            ),
        ),
    ]
