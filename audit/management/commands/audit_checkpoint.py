from django.core.management.base import BaseCommand, CommandError

from audit.checkpoint_sinks import CheckpointFileSink
from audit.checkpoints import CheckpointError, checkpoint_create
from audit.signing import SigningKeyError


class Command(BaseCommand):
    help = (
        "Sign the audit tree at the current head (C2SP checkpoint, Ed25519), store it, ship "
        "it to SUNDOWN_CHECKPOINT_SINKS (and --out) and print the signed note."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Also append it to this checkpoint file (JSON lines).")

    def handle(self, *args, out=None, **options):
        try:
            checkpoint = checkpoint_create()
        except (CheckpointError, SigningKeyError) as exc:
            raise CommandError(str(exc)) from exc
        if out:
            CheckpointFileSink(out).ship(checkpoint)
        self.stdout.write(checkpoint.note, ending="")
