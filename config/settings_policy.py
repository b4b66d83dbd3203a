"""Sundown's own policy settings: the revocation engine, reconciliation and findings,
reviews and attestation. Read from the environment like the rest (see .env.example);
config.settings takes every name from here, so code reads them as django.conf.settings.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

# Revocation engine (revocation.services). Retry ladder in seconds, one step per
# failed try, with +-jitter; after MAX_ATTEMPTS tries the credential is failed.
SUNDOWN_REVOCATION_RETRY_DELAYS = [
    int(x) for x in env_list("SUNDOWN_REVOCATION_RETRY_DELAYS", ["5", "30", "120", "600"])
]
SUNDOWN_REVOCATION_RETRY_JITTER = 0.2
SUNDOWN_REVOCATION_MAX_ATTEMPTS = env_int("SUNDOWN_REVOCATION_MAX_ATTEMPTS", 5)
SUNDOWN_REVOCATION_BATCH_SIZE = env_int("SUNDOWN_REVOCATION_BATCH_SIZE", 500)
# Leases (revocation.services.leases): the hard expiry is the longest a batch may run
# (every connector call's timeouts sit well inside it); the pulse, renewed every
# HEARTBEAT seconds, lets a dead worker's batch be claimed again after LIVENESS seconds
# (a dead process's batch goes at once: its advisory lock is gone with its connection).
SUNDOWN_REVOCATION_LEASE_SECONDS = env_int("SUNDOWN_REVOCATION_LEASE_SECONDS", 60)
SUNDOWN_REVOCATION_HEARTBEAT_SECONDS = env_int("SUNDOWN_REVOCATION_HEARTBEAT_SECONDS", 1)
SUNDOWN_REVOCATION_LIVENESS_SECONDS = env_int("SUNDOWN_REVOCATION_LIVENESS_SECONDS", 5)
SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM = env_int("SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM", 4)
# A batch task goes on claiming this long, then hands the rest to a fresh message: short,
# so a sweep queued behind it (after a killed worker took the last one with it) or
# another system's batch gets a worker slot within seconds.
SUNDOWN_REVOCATION_TASK_SECONDS = env_int("SUNDOWN_REVOCATION_TASK_SECONDS", 5)
SUNDOWN_SWEEP_CHUNK = env_int("SUNDOWN_SWEEP_CHUNK", 2000)
# The sweep reads every due credential when a contract has just ended or its last read
# found some; otherwise at least this often (a credential made due by an edit of the
# registry, not by an end). revocation.services.sweep._full_read_due.
SUNDOWN_SWEEP_FULL_SECONDS = env_int("SUNDOWN_SWEEP_FULL_SECONDS", 60)
# The beat's sweep hands every chunk but its first to other workers (a killed worker
# then takes one chunk with it, not the rest of the sweep); off: it requests them all.
SUNDOWN_SWEEP_FAN_OUT = env_bool("SUNDOWN_SWEEP_FAN_OUT", True)
# Circuit breaker (revocation.services.breaker): a system whose target does not answer
# is probed this often, and its batches resume as soon as a probe passes.
SUNDOWN_OUTAGE_PROBE_SECONDS = env_int("SUNDOWN_OUTAGE_PROBE_SECONDS", 2)

SUNDOWN_SWEEP_SECONDS = env_int("SUNDOWN_SWEEP_SECONDS", 5)
# Reconciliation: minutes between passes over a system (a system's own schedule wins),
# and how long a queued or running pass may take before the next one abandons it.
SUNDOWN_RECONCILE_MINUTES = env_int("SUNDOWN_RECONCILE_MINUTES", 60)
SUNDOWN_RECONCILE_STALE_SECONDS = env_int("SUNDOWN_RECONCILE_STALE_SECONDS", 900)
# A pass writes in chunks of this many accounts, each its own short transaction with
# its audit events: revocation batches and every other audit append wait for one chunk
# at most, never for the whole pass (findings.reconciliation).
SUNDOWN_RECONCILE_CHUNK = env_int("SUNDOWN_RECONCILE_CHUNK", 1000)
if SUNDOWN_RECONCILE_CHUNK < 1:
    raise ImproperlyConfigured("SUNDOWN_RECONCILE_CHUNK is at least 1.")
# Days unused before access is a dormant finding, for agencies without their own policy.
SUNDOWN_DORMANT_DAYS = env_int("SUNDOWN_DORMANT_DAYS", 90)
# Maximum age in days per credential kind ("api_key=365,ssh_key=365"), for agencies
# without their own policy; older active access is a max_age finding (findings.policies).
SUNDOWN_MAX_AGE_DAYS = {
    kind.strip(): int(days)
    for kind, _, days in (
        item.partition("=")
        for item in env_list("SUNDOWN_MAX_AGE_DAYS", ["api_key=365", "ssh_key=365"])
    )
    if kind.strip()
}
# Access reviews: days before a campaign's deadline that reviewers are reminded, and
# how often beat opens scheduled campaigns, reminds and closes those past the deadline
# (and sends due roster attestation links and handles missed ones).
SUNDOWN_REVIEW_REMINDER_DAYS = [
    int(d) for d in env_list("SUNDOWN_REVIEW_REMINDER_DAYS", ["7", "1"])
]
SUNDOWN_REVIEW_CHECK_SECONDS = env_int("SUNDOWN_REVIEW_CHECK_SECONDS", 300)
# Where people reach this deployment, for links in mail (review queues, attestation).
SUNDOWN_PUBLIC_URL = env_str("SUNDOWN_PUBLIC_URL", "http://localhost:8000")
# Vendor roster attestation: days between links to a vendor's security contact, days a
# link works, what a missed one does ("alert": mail security staff; "revoke": revoke
# the vendor's access and suspend it), and requests per address per 10 minutes to
# the attestation page.
SUNDOWN_ATTESTATION_DAYS = env_int("SUNDOWN_ATTESTATION_DAYS", 30)
SUNDOWN_ATTESTATION_RESPONSE_DAYS = env_int("SUNDOWN_ATTESTATION_RESPONSE_DAYS", 7)
SUNDOWN_ATTESTATION_ON_MISSED = env_str("SUNDOWN_ATTESTATION_ON_MISSED", "alert")
if SUNDOWN_ATTESTATION_ON_MISSED not in ("alert", "revoke"):
    raise ImproperlyConfigured("SUNDOWN_ATTESTATION_ON_MISSED is alert or revoke.")
SUNDOWN_ATTESTATION_RATE = env_int("SUNDOWN_ATTESTATION_RATE", 30)
# Seconds between passes of the time-based policies (maximum age) over every agency.
SUNDOWN_POLICY_CHECK_SECONDS = env_int("SUNDOWN_POLICY_CHECK_SECONDS", 3600)
# A pass refreshes a credential's "last seen on the target" when older than this.
SUNDOWN_RECONCILE_SEEN_REFRESH_SECONDS = env_int("SUNDOWN_RECONCILE_SEEN_REFRESH_SECONDS", 21600)
# Usage events (POST /api/v1/usage-events/): a transfer is a volume anomaly when it is
# at least SUNDOWN_VOLUME_FACTOR times the vendor's mean over the last
# SUNDOWN_VOLUME_BASELINE_DAYS, that mean rests on at least SUNDOWN_VOLUME_MIN_EVENTS
# earlier events, and the transfer is at least SUNDOWN_VOLUME_MIN_BYTES (findings.ingest).
SUNDOWN_VOLUME_FACTOR = env_int("SUNDOWN_VOLUME_FACTOR", 10)
SUNDOWN_VOLUME_BASELINE_DAYS = env_int("SUNDOWN_VOLUME_BASELINE_DAYS", 30)
SUNDOWN_VOLUME_MIN_EVENTS = env_int("SUNDOWN_VOLUME_MIN_EVENTS", 20)
SUNDOWN_VOLUME_MIN_BYTES = env_int("SUNDOWN_VOLUME_MIN_BYTES", 100 * 1024 * 1024)
# Jobs started from the dashboard (CSV imports, evidence packs; jobs app): one that no
# worker finished this many seconds after it was started is failed (a lost message, a
# killed worker), and a finished job's file (an evidence pack) is kept this many hours.
SUNDOWN_JOB_STALE_SECONDS = env_int("SUNDOWN_JOB_STALE_SECONDS", 900)
SUNDOWN_JOB_KEEP_HOURS = env_int("SUNDOWN_JOB_KEEP_HOURS", 24)
