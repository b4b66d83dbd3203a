from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from vendors.services import agency_create


class Command(BaseCommand):
    help = "Create an agency (tenant). Audited."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("slug")
        parser.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. Europe/Berlin")

    def handle(self, *args, name, slug, time_zone, **options):
        try:
            agency = agency_create(
                actor=Actor.system("manage.py"), name=name, slug=slug, time_zone=time_zone
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"created agency {agency} ({agency.slug})"))
