"""`manage.py watchdog [--every N]`: check the sweep's heartbeat from outside Celery.

The worker's own watchdog thread and /readyz already look; this is for operators who
want a check that needs neither (cron, a systemd timer, a Kubernetes CronJob).
Exits 1 while the sweep is stale, so the scheduler running it can alert on its own.
"""

import socket
import time

from django.core.management.base import BaseCommand

from ops import selectors, services


class Command(BaseCommand):
    help = "Open (and alert) or resolve the sweep-stale incident; exit 1 while it is open."

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=0,
            help="Keep checking every N seconds instead of once.",
        )

    def handle(self, *args, every, **options):
        watcher = f"manage.py watchdog on {socket.gethostname()}"
        since = selectors.db_now()
        while True:
            opened = services.watchdog_check(watcher=watcher, watching_since=since)
            if opened is not None:
                self.stderr.write(f"incident opened and alerted: {opened.detail}")
            if not every:
                break
            time.sleep(every)
        age = selectors.heartbeat_age(selectors.SWEEP)
        stale = age.seconds is None or age.seconds > selectors.sweep_stale_seconds()
        self.stdout.write(
            "sweep: never completed"
            if age.seconds is None
            else f"sweep: last completed {age.seconds:.0f} s ago"
        )
        if stale:
            raise SystemExit(1)
