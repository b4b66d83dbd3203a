from django.core.management.base import BaseCommand, CommandError

from audit.models import VerificationRun
from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit non-zero naming the first bad seq."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-record", action="store_true", help="Do not store the result for the dashboard."
        )

    def handle(self, *args, no_record=False, **options):
        report = audit_chain_verify()
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
