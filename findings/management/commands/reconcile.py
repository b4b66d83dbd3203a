"""Reconcile systems now, in this process, and print what each pass found."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.models import System
from audit.actor import Actor
from findings.reconciliation import UNLISTABLE, reconciliation_request, reconciliation_run


class Command(BaseCommand):
    help = "Read every account on the target(s) and compare with the registry."

    def add_arguments(self, parser):
        parser.add_argument("--system", type=int, action="append", help="System id (repeatable)")

    def handle(self, *args, **options):
        actor = Actor.system("reconcile-command")
        systems = System.objects.exclude(kind__in=UNLISTABLE).order_by("pk")
        if options["system"]:
            systems = System.objects.filter(pk__in=options["system"]).order_by("pk")
            missing = set(options["system"]) - set(systems.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No system with id {', '.join(map(str, sorted(missing)))}")
        failed = 0
        for system in systems:
            try:
                run, _ = reconciliation_request(
                    actor=actor, system=system, trigger="command", enqueue=False
                )
            except ValidationError as exc:
                self.stderr.write(f"{system.name} (system {system.pk}): {' '.join(exc.messages)}")
                failed += 1
                continue
            run = reconciliation_run(run_id=run.pk, actor=actor) or run
            if run.status != run.Status.SUCCEEDED:
                failed += 1
                self.stdout.write(
                    f"{system.name} (system {system.pk}): {run.get_status_display()}"
                    f"{': ' + run.error if run.error else ''}"
                )
                continue
            self.stdout.write(
                f"{system.name} (system {system.pk}): {run.accounts} accounts "
                f"({run.active_accounts} can log in, {run.sessions} sessions), "
                f"{run.matched} registered, {run.orphans} orphans, {run.drifted} drifted "
                f"(revoking again), {run.not_found} not found, {run.used_after_end} used after "
                f"the end; {run.findings_opened} findings opened, {run.findings_resolved} "
                f"resolved in {run.duration_ms} ms"
            )
        if failed:
            raise CommandError(f"{failed} system(s) could not be reconciled")
