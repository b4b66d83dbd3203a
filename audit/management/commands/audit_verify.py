from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.models import VerificationRun
from audit.signing import SigningKeyError, signing_key, verifier_parse
from audit.verification import audit_verify_all


def _verifier(value):
    if value:
        text = Path(value).read_text() if Path(value).is_file() else value
        return verifier_parse(text)
    return verifier_parse(signing_key().verifier())


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain and the Merkle tree, check the stored and the given "
        "signed checkpoints against them; exit non-zero naming the first bad seq."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-record", action="store_true", help="Do not store the result for the dashboard."
        )
        parser.add_argument(
            "--checkpoints",
            help="Checkpoint file (JSON lines from a file sink or audit_checkpoint --out).",
        )
        parser.add_argument(
            "--verifier-key",
            help="Verifier key (or a file holding it); default: from the signing key file.",
        )

    def handle(self, *args, no_record=False, checkpoints=None, verifier_key=None, **options):
        try:
            verifier = _verifier(verifier_key)
        except (SigningKeyError, ValueError, OSError) as exc:
            if checkpoints:
                raise CommandError(
                    f"cannot check checkpoints without a verifier key: {exc}"
                ) from exc
            verifier = None
            self.stderr.write(f"no verifier key ({exc}); checking the chain and tree only")
        lines = None
        if checkpoints:
            with open(checkpoints, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        report = audit_verify_all(verifier=verifier, checkpoint_lines=lines)
        if not no_record:
            VerificationRun.objects.create(
                ok=report.ok,
                events_checked=report.events_checked,
                first_bad_seq=report.first_bad_seq,
                message=report.message,
            )
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at seq {report.first_bad_seq}: {report.message} "
                f"({report.events_checked} events verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain OK: {report.message}"))
