from django.core.management.base import BaseCommand
from django.db import transaction

from access.crypto import rotate
from access.models import System


class Command(BaseCommand):
    help = "Re-encrypt every stored system secret with the first key of SUNDOWN_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for system in System.objects.select_for_update().exclude(secret_encrypted=""):
                system.secret_encrypted = rotate(system.secret_encrypted)
                system.save(update_fields=["secret_encrypted"])
                count += 1
        self.stdout.write(f"re-encrypted {count} secrets")
