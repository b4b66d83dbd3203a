import json

from django.core.management.base import BaseCommand

from audit.checkpoints import checkpoint_create


class Command(BaseCommand):
    help = (
        "Sign the audit chain head with SUNDOWN_AUDIT_SIGNING_KEY, log it to the "
        "`sundown.audit.checkpoint` logger and print it (or append it to --out)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Append the checkpoint as a JSON line to this file.")

    def handle(self, *args, out=None, **options):
        line = json.dumps(checkpoint_create(), sort_keys=True)
        if out:
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        self.stdout.write(line)
