"""TOTP devices with encrypted seeds; existing django-otp devices move here and their
plain-hex table is emptied, so the database holds no usable seed afterwards."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import dashboard.models

_SHARED = (
    "user_id",
    "name",
    "confirmed",
    "throttling_failure_timestamp",
    "throttling_failure_count",
    "created_at",
    "last_used_at",
    "step",
    "t0",
    "digits",
    "tolerance",
    "drift",
    "last_t",
)


def seal_existing_devices(apps, schema_editor):
    from access.crypto import encrypt

    plain = apps.get_model("otp_totp", "TOTPDevice")
    sealed = apps.get_model("dashboard", "SealedTOTPDevice")
    for device in plain.objects.all().iterator():
        sealed.objects.create(
            sealed_key=encrypt(device.key), **{f: getattr(device, f) for f in _SHARED}
        )
    plain.objects.all().delete()


def unseal_devices(apps, schema_editor):
    from access.crypto import decrypt

    plain = apps.get_model("otp_totp", "TOTPDevice")
    sealed = apps.get_model("dashboard", "SealedTOTPDevice")
    for device in sealed.objects.all().iterator():
        plain.objects.create(
            key=decrypt(device.sealed_key), **{f: getattr(device, f) for f in _SHARED}
        )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="SealedTOTPDevice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "throttling_failure_timestamp",
                    models.DateTimeField(
                        blank=True,
                        default=None,
                        help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.",
                        null=True,
                    ),
                ),
                (
                    "throttling_failure_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Number of successive failed attempts."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                (
                    "sealed_key",
                    models.TextField(default=dashboard.models.sealed_random_key, editable=False),
                ),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "TOTP device",
                "abstract": False,
            },
        ),
        migrations.RunPython(seal_existing_devices, unseal_devices),
    ]
