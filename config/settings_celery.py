"""Celery's settings: the broker, how tasks are taken and acknowledged, and the beat's
schedule. Read from the environment like the rest (see .env.example); config.settings
takes every name from here.
"""

import contextlib

from config.env import env_int, env_str
from config.paths import VAR_DIR
from config.settings_audit import SUNDOWN_CHECKPOINT_SECONDS
from config.settings_policy import (
    SUNDOWN_POLICY_CHECK_SECONDS,
    SUNDOWN_REVIEW_CHECK_SECONDS,
    SUNDOWN_SWEEP_SECONDS,
)

# Celery: the database is the source of truth, the broker only delivers.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Otherwise kombu puts its broadcast exchange in ./control of whatever cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # kombu neither creates these nor their parent: a fresh checkout (no var/) would
    # fail on the first publish. Read-only file systems fail later, at the broker.
    for _folder in ("queue", "processed", "control"):
        with contextlib.suppress(OSError):
            (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Without it Celery's Django fixup closes the database connection before and after
# every task, so each batch of a mass revocation paid a new PostgreSQL backend and its
# cold catalog caches. With it the fixup closes every N tasks, and ops.celery closes a
# connection that broke or outlived CONN_MAX_AGE at each task's start and end, as a
# web request's end does.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "sundown")
# Batches go to "<default queue>.<kind>", one queue per connector kind (revocation.routing).
CELERY_TASK_ROUTES = ("revocation.routing.route_task",)
CELERY_TIMEZONE = "UTC"

CELERY_BEAT_SCHEDULE = {
    # The sweep moves due credentials to pending and (re)dispatches pending work:
    # a lost or flushed broker message is simply sent again on the next run.
    "revocation-sweep": {
        "task": "revocation.sweep",
        "schedule": float(SUNDOWN_SWEEP_SECONDS),
        "options": {"expires": 60},
    },
    # Open outages (revocation.services.breaker): probe each target that stopped
    # answering, and resume its batches the moment it does.
    "revocation-outage-probes": {
        "task": "revocation.outage_probes",
        "schedule": float(env_int("SUNDOWN_OUTAGE_PROBE_SECONDS", 2)),
        "options": {"expires": 10},
    },
    "audit-ship": {
        "task": "audit.ship",
        "schedule": float(env_int("SUNDOWN_SIEM_SHIP_SECONDS", 10)),
        "options": {"expires": 60},
    },
    # Signed checkpoints of the audit tree, shipped to SUNDOWN_CHECKPOINT_SINKS.
    "audit-checkpoint": {
        "task": "audit.checkpoint",
        "schedule": float(SUNDOWN_CHECKPOINT_SECONDS),
        "options": {"expires": SUNDOWN_CHECKPOINT_SECONDS},
    },
    # Reconciliation: queue a pass for each system whose interval has passed.
    "findings-reconcile-due": {
        "task": "findings.reconcile_due",
        "schedule": float(env_int("SUNDOWN_RECONCILE_CHECK_SECONDS", 60)),
        "options": {"expires": 120},
    },
    # Time-based policies: access older than its kind's maximum age.
    "findings-policies": {
        "task": "findings.policies_apply",
        "schedule": float(SUNDOWN_POLICY_CHECK_SECONDS),
        "options": {"expires": SUNDOWN_POLICY_CHECK_SECONDS},
    },
    "reviews-due": {
        "task": "reviews.due",
        "schedule": float(SUNDOWN_REVIEW_CHECK_SECONDS),
        "options": {"expires": SUNDOWN_REVIEW_CHECK_SECONDS},
    },
    "reviews-attestations-due": {
        "task": "reviews.attestations_due",
        "schedule": float(SUNDOWN_REVIEW_CHECK_SECONDS),
        "options": {"expires": SUNDOWN_REVIEW_CHECK_SECONDS},
    },
    # Jobs started from the dashboard: fail what no worker finished, drop old results.
    "jobs-sweep": {
        "task": "jobs.sweep",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "revocation-expiry-notices": {
        "task": "revocation.expiry_notices",
        "schedule": float(env_int("SUNDOWN_NOTICE_SECONDS", 300)),
        "options": {"expires": 600},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Creates the schedule file's folder (a fresh checkout has no var/); see ops.beat.
CELERY_BEAT_SCHEDULER = "ops.beat:Scheduler"
