"""System.kind takes its choices from the connector registry (a callable: adding a
kind later needs no migration), and "ssh" and "webhook" leave them: they never had a
connector, so every revocation on such a system failed at run time.

Existing rows of those kinds are kept as they are (nothing is rewritten behind a
person's back): editing such a system asks for a kind that is offered (the field's
invalid_choice message), and revoking on it fails permanently with "Sundown has no
connector for systems of kind 'ssh'", which opens a manual task for the owner.
"""

from django.db import migrations, models

import revocation.connectors.registry


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="system",
            name="kind",
            field=models.CharField(
                choices=revocation.connectors.registry.kind_choices,
                error_messages={
                    "invalid_choice": 'Sundown has no connector for systems of kind %(value)r: choose one of the kinds offered ("manual" hands revocations to a person).'
                },
                max_length=16,
            ),
        ),
    ]
