"""Prometheus metrics: events counted where they happen, state read from the database.

Events (revocation latency and outcomes, retries, connector errors, HTTP latency) are
prometheus-client metrics in the process that sees them. Under gunicorn and Celery's
prefork pool set PROMETHEUS_MULTIPROC_DIR (a fresh, process-group-private folder such
as the container's /tmp): every process then writes its own file there and a scrape
sums them. State (credentials per system and status, sweep age, open incidents) is read
from the database at scrape time by the web's /metrics only, so it is the same whichever
process answers and is never double counted across workers.

The worker has no web server of its own, so ``worker_metrics_serve`` starts one in the
worker's main process (SUNDOWN_WORKER_METRICS_PORT); Prometheus scrapes web and workers.
"""

import hmac
import logging
import os
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _MULTIPROC_DIR:
    # prometheus-client opens one file per process there, and needs the folder first.
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

from prometheus_client import (  # noqa: E402 - the folder must exist before this import
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402

logger = logging.getLogger(__name__)

# Contract end to verified revocation runs from seconds (kill switch, healthy target) to
# hours (a target down for a while); the buckets span both.
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 43200, 86400)

REVOCATION_LATENCY = Histogram(
    "sundown_revocation_latency_seconds",
    "From the moment access was due to end (contract end plus grace, or the time a kill "
    "switch, manual revoke or review asked for it) to its verified revocation on the target.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
REVOCATION_ATTEMPTS = Counter(
    "sundown_revocation_attempts_total",
    "Connector attempts on one credential, by outcome (success, error, verify_failed, "
    "handed_off, abandoned).",
    ["kind", "outcome"],
)
REVOCATION_RETRIES = Counter(
    "sundown_revocation_retries_total",
    "Failed attempts scheduled for another try on the retry ladder.",
    ["kind"],
)
REVOCATION_FAILED = Counter(
    "sundown_revocation_failed_total",
    "Credentials that became failed (ladder exhausted or permanent error): manual tasks.",
    ["kind"],
)
CONNECTOR_ERRORS = Counter(
    "sundown_connector_errors_total",
    "Connector errors by kind of target and of error (transient, permanent, "
    "verify_failed: the target still showed the access after the call).",
    ["kind", "error"],
)
HTTP_LATENCY = Histogram(
    "sundown_http_request_duration_seconds",
    "Web and API request latency by route pattern (never the raw path, which can hold ids "
    "and signed tokens).",
    ["method", "route", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def multiprocess_mode() -> bool:
    return bool(_MULTIPROC_DIR)


def multiprocess_dir_reset() -> None:
    """Empty the folder before any process of this service writes to it (at its start).

    Call it only from the process that starts the others (the gunicorn master, the
    Celery worker's main process): one folder per service, never shared between two.
    """
    if not _MULTIPROC_DIR:
        return
    for path in Path(_MULTIPROC_DIR).glob("*.db"):
        path.unlink(missing_ok=True)


def _event_collectors():
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _Collectors:
    """Anything with collect(): what generate_latest needs, without a global registration."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


class DatabaseCollector:
    """State metrics read at scrape time (a few aggregate queries).

    Operators see every agency here, by design: /metrics is an operator endpoint behind
    its own token, not a user's view, so there is no user to ``restrict`` by.
    """

    def collect(self):
        from django.db.models import Count

        from access.models import Credential
        from ops import selectors
        from ops.models import Incident

        credentials = GaugeMetricFamily(
            "sundown_credentials",
            "Credentials per system and status (pending: queued for revocation; failed: "
            "needs a person).",
            labels=["agency", "system", "system_id", "kind", "status"],
        )
        rows = (
            Credential.objects.values(
                "system_id", "system__name", "system__kind", "system__agency__slug", "status"
            )
            .annotate(n=Count("pk"))
            .order_by()
        )
        for row in rows:
            credentials.add_metric(
                [
                    row["system__agency__slug"],
                    row["system__name"],
                    str(row["system_id"]),
                    row["system__kind"],
                    row["status"],
                ],
                row["n"],
            )
        yield credentials

        age = selectors.heartbeat_age(selectors.SWEEP)
        yield GaugeMetricFamily(
            "sundown_sweep_age_seconds",
            "Seconds since the revocation sweep last completed (NaN: never).",
            value=float("nan") if age.seconds is None else age.seconds,
        )
        yield GaugeMetricFamily(
            "sundown_sweep_stale_threshold_seconds",
            "Sweep age above which /readyz fails and security staff are alerted.",
            value=selectors.sweep_stale_seconds(),
        )
        checkpoint = selectors.checkpoint_age()
        yield GaugeMetricFamily(
            "sundown_audit_checkpoint_age_seconds",
            "Seconds since the newest signed audit checkpoint (NaN: none yet).",
            value=float("nan") if checkpoint.seconds is None else checkpoint.seconds,
        )
        yield from _reconciliation_metrics()
        incidents = GaugeMetricFamily(
            "sundown_incidents_open", "Open watchdog incidents by check.", labels=["check"]
        )
        for check, n in (
            Incident.objects.filter(resolved_at__isnull=True)
            .values_list("check_name")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            incidents.add_metric([check], n)
        yield incidents


def _reconciliation_metrics():
    """Seconds since each listable system's last successful pass, and live findings by
    agency, severity and status: two aggregate queries whatever the registry's size."""
    from django.db.models import Count, Max, Q

    from access.models import System
    from findings.models import Finding
    from findings.reconciliation import UNLISTABLE
    from revocation.services.common import db_now

    now = db_now()
    age = GaugeMetricFamily(
        "sundown_reconciliation_age_seconds",
        "Seconds since the system's last successful reconciliation pass (NaN: never).",
        labels=["agency", "system", "system_id", "kind"],
    )
    systems = (
        System.objects.exclude(kind__in=UNLISTABLE)
        .annotate(
            last=Max(
                "reconciliation_runs__finished_at",
                filter=Q(reconciliation_runs__status="succeeded"),
            )
        )
        .values_list("pk", "name", "kind", "agency__slug", "last")
        .order_by("pk")
    )
    for pk, name, kind, agency, last in systems:
        seconds = float("nan") if last is None else max(0.0, (now - last).total_seconds())
        age.add_metric([agency, name, str(pk), kind], seconds)
    yield age
    findings = GaugeMetricFamily(
        "sundown_findings_open",
        "Live findings (open or acknowledged) by agency, severity and status.",
        labels=["agency", "severity", "status"],
    )
    for agency, severity, status, n in (
        Finding.objects.filter(status__in=Finding.LIVE)
        .values_list("system__agency__slug", "severity", "status")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        findings.add_metric([agency, severity, status], n)
    yield findings


def exposition(*, database: bool) -> bytes:
    """The text a scrape returns: this host's event metrics, plus state when ``database``."""
    collectors = [_event_collectors()]
    if database:
        collectors.append(DatabaseCollector())
    return generate_latest(_Collectors(*collectors))


def token_ok(header: str, token: str) -> bool:
    """Constant-time check of ``Authorization: Bearer <token>``."""
    scheme, _, presented = header.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # a scrape every few seconds is not news


def worker_metrics_app(token: str):
    def app(environ, start_response):
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if token and not token_ok(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
            return [b"bearer token required\n"]
        body = exposition(database=False)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return app


def worker_metrics_serve(*, addr: str, port: int) -> WSGIServer | None:
    """Serve this worker host's event metrics on ``addr:port`` from a daemon thread.

    Without SUNDOWN_METRICS_TOKEN it listens on loopback only, whatever ``addr`` says:
    unlike the web there is no proxy in front of this port, so loopback is a real boundary.
    """
    from django.conf import settings

    token = settings.SUNDOWN_METRICS_TOKEN
    if not token and addr not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("SUNDOWN_METRICS_TOKEN is not set: worker metrics on 127.0.0.1 only")
        addr = "127.0.0.1"
    if not multiprocess_mode():
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: metrics counted in prefork children are lost"
        )
    try:
        server = make_server(
            addr, port, worker_metrics_app(token), _ThreadingServer, handler_class=_QuietHandler
        )
    except OSError:
        logger.exception("cannot serve worker metrics on %s:%s", addr, port)
        return None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
