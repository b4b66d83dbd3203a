from django.core.management.base import BaseCommand, CommandError

from audit.shipping import audit_ship


class Command(BaseCommand):
    help = (
        "Ship audit events the configured sinks (SUNDOWN_SIEM_*) have not taken yet, as "
        "OCSF JSON, from each sink's persistent cursor. Exits non-zero if a sink failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sink", help="Only this sink (by its configured name).")
        parser.add_argument(
            "--batch", type=int, help="Events per delivery (default SUNDOWN_SIEM_BATCH)."
        )

    def handle(self, *args, sink=None, batch=None, **options):
        if batch is not None and batch < 1:
            raise CommandError("--batch must be at least 1.")
        try:
            results = audit_ship(only=sink, batch_size=batch)
        except KeyError:
            raise CommandError(f"No sink named {sink!r} is configured.") from None
        if not results:
            self.stdout.write("No sinks are configured (see SUNDOWN_SIEM_* in .env.example).")
            return
        failed = []
        for result in results:
            if result.busy:
                line = f"{result.sink}: busy (another shipper holds it), at seq {result.after_seq}"
            else:
                line = f"{result.sink}: shipped {result.shipped}, now at seq {result.after_seq}"
            if result.error:
                failed.append(result.sink)
                line += f"; FAILED: {result.error}"
            self.stdout.write(line)
        if failed:
            raise CommandError(f"Shipping failed for {', '.join(failed)}.")
