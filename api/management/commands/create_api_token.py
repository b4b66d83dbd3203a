"""``manage.py create_api_token <username> [--expires DAYS] [--name NAME] [--service]``."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken
from api.services import api_token_create
from audit.actor import Actor


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown once, stored as a hash)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="Valid for DAYS days.")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--service", action="store_true", help="A service-account token (an integration)."
        )

    def handle(self, *args, username, expires, name, service, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        kind = ApiToken.Kind.SERVICE if service else ApiToken.Kind.PERSONAL
        try:
            token, key = api_token_create(
                actor=Actor.system("create_api_token"),
                user=user,
                name=name or f"{kind} token for {username}",
                kind=kind,
                expires_in_days=expires,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        expiry = (
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
        )
        self.stderr.write(f"Token {token.prefix} for {username} ({expiry}). It is not shown again:")
        self.stdout.write(key)
