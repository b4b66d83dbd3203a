"""/healthz, /readyz and /metrics: for load balancers, monitoring and Prometheus."""

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.actor import client_ip
from ops import selectors, services

logger = logging.getLogger(__name__)
_LOOPBACK = {"127.0.0.1", "::1"}
_web_watching_since = None


@never_cache
@require_GET
def healthz(request):
    """The process is up and answering: what a container restart can fix, nothing more.

    A database outage is not a reason to restart web containers, so it is /readyz's job.
    """
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    selectors.db_now()
    return {"ok": True}


def _check_broker() -> dict:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
    return {"ok": True}


def _check_cache() -> dict:
    nonce = secrets.token_hex(8)
    cache.set("sundown:readyz", nonce, 30)
    return {"ok": cache.get("sundown:readyz") == nonce}


def _check_sweep() -> dict:
    age = selectors.heartbeat_age(selectors.SWEEP)
    limit = selectors.sweep_stale_seconds()
    return {
        "ok": age.seconds is not None and age.seconds <= limit,
        "age_seconds": None if age.seconds is None else round(age.seconds, 1),
        "limit_seconds": limit,
    }


def _check_checkpoint() -> dict:
    age = selectors.checkpoint_age()
    limit = selectors.checkpoint_stale_seconds()
    return {
        "ok": age.seconds is not None and age.seconds <= limit,
        "age_seconds": None if age.seconds is None else round(age.seconds, 1),
        "limit_seconds": limit,
        "size": age.size,
    }


CHECKS = {
    "database": _check_database,
    "broker": _check_broker,
    "cache": _check_cache,
    "sweep": _check_sweep,
    "checkpoint": _check_checkpoint,
}


@never_cache
@require_GET
def readyz(request):
    """Everything Sundown needs to do its job: 200 when all pass, 503 naming what fails.

    Each hit is also a watchdog look (ops.services.watchdog_check), so monitoring that
    polls /readyz alerts on a stopped sweep even when no worker is left to notice.
    """
    global _web_watching_since
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", never a 500
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            results[name] = {"ok": False, "error": exc.__class__.__name__}
    if results["database"]["ok"]:
        try:
            if _web_watching_since is None:
                _web_watching_since = selectors.db_now()
            services.watchdog_check(watcher="web /readyz", watching_since=_web_watching_since)
        except Exception:  # noqa: BLE001 - the readiness answer matters more than the alert
            logger.exception("watchdog check from /readyz failed")
    ready = all(r["ok"] for r in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": results}, status=200 if ready else 503
    )


@never_cache
@require_GET
def metrics(request):
    """Prometheus text: this host's event metrics and the database's state metrics.

    Labels name agencies and systems, an inventory worth hiding, so a bearer token
    (SUNDOWN_METRICS_TOKEN) is required. Without one, only DEBUG serves loopback
    clients: in production a reverse proxy on the same host makes every request look
    like loopback, so the address alone proves nothing.
    """
    from ops import metrics as prom

    token = settings.SUNDOWN_METRICS_TOKEN
    if token:
        if not prom.token_ok(request.headers.get("Authorization", ""), token):
            response = HttpResponse("bearer token required\n", status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
    elif not (settings.DEBUG and client_ip(request) in _LOOPBACK):
        return HttpResponse("set SUNDOWN_METRICS_TOKEN to enable /metrics\n", status=403)
    return HttpResponse(prom.exposition(database=True), content_type=prom.CONTENT_TYPE_LATEST)
