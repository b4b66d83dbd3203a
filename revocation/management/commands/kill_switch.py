"""`manage.py kill_switch <vendor-id> --reason "..."`: revoke every credential of a vendor now."""

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from revocation.selectors import kill_switch_preview
from revocation.services import vendor_kill_switch
from vendors.models import Vendor


class Command(BaseCommand):
    help = "Revoke every active or failed credential of one vendor now and suspend the vendor."

    def add_arguments(self, parser):
        parser.add_argument("vendor_id", type=int)
        parser.add_argument("--reason", required=True, help="Why; recorded in the audit trail.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be revoked; change nothing."
        )
        parser.add_argument(
            "--operator",
            default="",
            help="Who is running this (default: the shell user); recorded as the actor.",
        )

    def handle(self, *args, vendor_id, reason, dry_run, operator, **options):
        try:
            vendor = Vendor.objects.select_related("agency").get(pk=vendor_id)
        except Vendor.DoesNotExist:
            raise CommandError(f"No vendor with id {vendor_id}.") from None
        preview = list(kill_switch_preview(vendor=vendor))
        self.stdout.write(
            f"{vendor.name} ({vendor.agency.name}): {len(preview)} credential(s) to revoke"
        )
        for credential in preview:
            self.stdout.write(f"  {credential.pk}: {credential} on {credential.system.name}")
        if dry_run:
            return
        actor = Actor.system(f"manage.py kill_switch by {operator or getpass.getuser()}")
        try:
            revoked = vendor_kill_switch(actor=actor, vendor=vendor, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Kill switch used: {len(revoked)} credential(s) pending revocation; "
                f"vendor suspended."
            )
        )
