"""The attempt's credential column keeps only the (credential, attempt) index."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0006_lean_indexes"),
        ("revocation", "0004_target_state"),
    ]

    operations = [
        migrations.AlterField(
            model_name="revocationattempt",
            name="credential",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="revocation_attempts",
                to="access.credential",
            ),
        ),
    ]
