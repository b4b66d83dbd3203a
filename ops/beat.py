"""The beat scheduler Sundown uses (CELERY_BEAT_SCHEDULER).

Celery's PersistentScheduler opens its shelve file where it is told and dies when the
folder is missing, which on a fresh checkout (no var/) left `worker -B` running
without a clock. This one creates the folder first. Anything else that stops beat
from starting still raises, and ops.celery turns that into a non-zero exit of the
worker that embeds it.
"""

from pathlib import Path

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    """PersistentScheduler whose schedule file's folder always exists."""

    def setup_schedule(self):
        # celery-types does not declare the attribute PersistentScheduler sets in __init__.
        filename: str = getattr(self, "schedule_filename")  # noqa: B009
        Path(filename).expanduser().parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
