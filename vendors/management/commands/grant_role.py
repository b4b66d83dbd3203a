from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from vendors.models import Agency
from vendors.permissions import ROLES
from vendors.services import agency_grant_role, agency_revoke_role


class Command(BaseCommand):
    help = "Grant (or with --revoke, take away) a role in an agency. Audited."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("agency", help="Agency slug")
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args, username, agency, role, revoke=False, **options):
        try:
            user = get_user_model().objects.get(username=username)
            agency_obj = Agency.objects.get(slug=agency)
        except (get_user_model().DoesNotExist, Agency.DoesNotExist) as exc:
            raise CommandError(str(exc)) from None
        actor = Actor.system("manage.py")
        try:
            if revoke:
                agency_revoke_role(actor=actor, agency=agency_obj, user=user, role=role)
            else:
                agency_grant_role(actor=actor, agency=agency_obj, user=user, role=role)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        verb = "revoked from" if revoke else "granted to"
        self.stdout.write(self.style.SUCCESS(f"{role} in {agency_obj} {verb} {username}"))
