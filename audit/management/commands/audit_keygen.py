from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.signing import key_generate, key_write


class Command(BaseCommand):
    help = (
        "Create the Ed25519 key that signs audit checkpoints in SUNDOWN_AUDIT_SIGNING_KEY_FILE "
        "(mode 0600, never overwritten) and print its verifier key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Key file (default: SUNDOWN_AUDIT_SIGNING_KEY_FILE).")
        parser.add_argument(
            "--name", help="Key name and checkpoint origin (default: SUNDOWN_AUDIT_ORIGIN)."
        )

    def handle(self, *args, out=None, name=None, **options):
        path = Path(out or settings.SUNDOWN_AUDIT_SIGNING_KEY_FILE)
        try:
            key = key_generate(name or settings.SUNDOWN_AUDIT_ORIGIN)
            path.parent.mkdir(parents=True, exist_ok=True)
            key_write(key, path)
        except FileExistsError:
            raise CommandError(f"{path} exists; a signing key is never overwritten") from None
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"wrote {path}; publish the verifier key below")
        self.stdout.write(key.verifier())
