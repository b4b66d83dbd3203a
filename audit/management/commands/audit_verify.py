import json

from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import checkpoint_check
from audit.models import VerificationRun
from audit.selectors import ChainReport, audit_chain_verify


def _check_checkpoints(report, path):
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    for record in records:
        problem = checkpoint_check(record)
        if problem:
            return ChainReport(False, report.events_checked, record.get("seq"), problem)
    report.message += f"; {len(records)} signed checkpoints match"
    return report


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit non-zero naming the first bad seq."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-record", action="store_true", help="Do not store the result for the dashboard."
        )
        parser.add_argument(
            "--checkpoints",
            help="File of signed checkpoints (JSON lines from audit_checkpoint) to check against.",
        )

    def handle(self, *args, no_record=False, checkpoints=None, **options):
        report = audit_chain_verify()
        if report.ok and checkpoints:
            report = _check_checkpoints(report, checkpoints)
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
