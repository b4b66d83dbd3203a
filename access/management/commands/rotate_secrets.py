from django.core.management.base import BaseCommand
from django.db import transaction

from access.crypto import rotate
from access.models import System


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored system secret and TOTP seed with the first key of "
        "SUNDOWN_ENCRYPTION_KEYS."
    )

    def handle(self, *args, **options):
        from dashboard.models import SealedTOTPDevice

        count = seeds = 0
        with transaction.atomic():
            for system in System.objects.select_for_update().exclude(secret_encrypted=""):
                system.secret_encrypted = rotate(system.secret_encrypted)
                system.save(update_fields=["secret_encrypted"])
                count += 1
            for device in SealedTOTPDevice.objects.select_for_update():
                device.sealed_key = rotate(device.sealed_key)
                device.save(update_fields=["sealed_key"])
                seeds += 1
        self.stdout.write(f"re-encrypted {count} secrets and {seeds} TOTP seeds")
