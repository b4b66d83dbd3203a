from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit import chain_check
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
            "--workers",
            type=int,
            default=settings.SUNDOWN_AUDIT_VERIFY_WORKERS,
            help="Processes recomputing the chain in chunks (PostgreSQL; default %(default)s).",
        )
        parser.add_argument(
            "--chunk",
            type=int,
            help=f"Events per chunk handed to a process (default {chain_check.CHUNK_EVENTS}).",
        )
        parser.add_argument(
            "--verifier-key",
            help="Verifier key (or a file holding it); default: from the signing key file.",
        )

    def handle(
        self,
        *args,
        no_record=False,
        checkpoints=None,
        verifier_key=None,
        workers=1,
        chunk=None,
        **options,
    ):
        if workers < 1 or (chunk is not None and chunk < 1):
            raise CommandError("--workers and --chunk must be at least 1")
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
        report = audit_verify_all(
            verifier=verifier, checkpoint_lines=lines, workers=workers, chunk_events=chunk
        )
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
