"""Reads for health, readiness and metrics; none of them writes anything."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops.models import Heartbeat, Incident

SWEEP = "sweep"


@dataclass(frozen=True)
class HeartbeatAge:
    """How long ago a periodic job last completed, by the database clock (None: never)."""

    name: str
    seconds: float | None
    now: datetime


def db_now() -> datetime:
    """The database clock: every process judges staleness by the same one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]
    return timezone.now()  # SQLite runs on this machine: its clock is ours


def heartbeat_age(name: str = SWEEP) -> HeartbeatAge:
    beat_at = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    now = db_now()
    seconds = None if beat_at is None else max(0.0, (now - beat_at).total_seconds())
    return HeartbeatAge(name=name, seconds=seconds, now=now)


def sweep_stale_seconds() -> float:
    """A sweep older than this is an incident (SUNDOWN_SWEEP_STALE_SECONDS)."""
    return float(settings.SUNDOWN_SWEEP_STALE_SECONDS)


@dataclass(frozen=True)
class CheckpointAge:
    """How old the newest signed audit checkpoint is (None: there is none yet)."""

    seconds: float | None
    size: int | None


def checkpoint_age() -> CheckpointAge:
    from audit.selectors import checkpoint_latest

    latest = checkpoint_latest()
    if latest is None:
        return CheckpointAge(seconds=None, size=None)
    # created_at is stamped by the process that signed it (auto_now_add), so compare
    # with this process's clock, not the database's.
    seconds = max(0.0, (timezone.now() - latest.created_at).total_seconds())
    return CheckpointAge(seconds=seconds, size=latest.size)


def checkpoint_stale_seconds() -> float:
    """A newest checkpoint older than this fails /readyz (SUNDOWN_CHECKPOINT_STALE_SECONDS)."""
    return float(settings.SUNDOWN_CHECKPOINT_STALE_SECONDS)


def incident_open(check_name: str) -> Incident | None:
    return Incident.objects.filter(check_name=check_name, resolved_at__isnull=True).first()
