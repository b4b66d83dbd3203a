"""`manage.py revoke_credential <id> --reason "..."`: revoke one credential now."""

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.models import Credential
from audit.actor import Actor
from revocation.services import credential_revoke


class Command(BaseCommand):
    help = "Move one credential to pending revocation now (the worker revokes and verifies it)."

    def add_arguments(self, parser):
        parser.add_argument("credential_id", type=int)
        parser.add_argument("--reason", required=True, help="Why; recorded in the audit trail.")
        parser.add_argument(
            "--operator", default="", help="Who is running this (default: the shell user)."
        )

    def handle(self, *args, credential_id, reason, operator, **options):
        try:
            credential = Credential.objects.get(pk=credential_id)
        except Credential.DoesNotExist:
            raise CommandError(f"No credential with id {credential_id}.") from None
        actor = Actor.system(f"manage.py revoke_credential by {operator or getpass.getuser()}")
        before = credential.status
        try:
            credential = credential_revoke(actor=actor, credential=credential, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if before == credential.status:
            self.stdout.write(f"{credential} is already {credential.status}; nothing to do.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{credential}: {before} -> {credential.status}"))
