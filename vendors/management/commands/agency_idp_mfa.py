from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from vendors.models import Agency
from vendors.services import agency_set_idp_mfa_trust


class Command(BaseCommand):
    help = (
        "Say whether an agency accepts the identity provider's MFA claim (amr/acr) in place "
        "of Sundown's TOTP check for its security officers. Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("agency", help="Agency slug")
        choice = parser.add_mutually_exclusive_group(required=True)
        choice.add_argument("--trust", action="store_true", help="accept the IdP's MFA")
        choice.add_argument("--distrust", action="store_true", help="require TOTP (default)")

    def handle(self, *args, agency, trust=False, distrust=False, **options):
        try:
            agency_obj = Agency.objects.get(slug=agency)
        except Agency.DoesNotExist:
            raise CommandError(f"no agency with slug {agency!r}") from None
        agency_obj = agency_set_idp_mfa_trust(
            actor=Actor.system("manage.py"), agency=agency_obj, trusted=trust
        )
        state = "accepts" if agency_obj.trust_idp_mfa else "does not accept"
        self.stdout.write(self.style.SUCCESS(f"{agency_obj} {state} the identity provider's MFA"))
