from django.core.management.base import BaseCommand, CommandError

from audit.signing import SigningKeyError, signing_key


class Command(BaseCommand):
    help = "Print the verifier key of the checkpoint signing key (<name>+<key id>+<key>)."

    def handle(self, *args, **options):
        try:
            self.stdout.write(signing_key().verifier())
        except SigningKeyError as exc:
            raise CommandError(str(exc)) from exc
