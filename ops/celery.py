"""What every Sundown worker process runs besides its tasks, hooked in by config.celery.

- A beat supervisor: when the beat embedded with ``-B`` dies, the worker exits non-zero
  so its supervisor restarts both, instead of serving tasks without a clock.
- A watchdog thread on the worker's own timer (not a beat task: it must notice a dead
  beat) that opens the sweep-stale incident and alerts once (ops.services).
- The Prometheus endpoint of the worker (SUNDOWN_WORKER_METRICS_PORT).
- Logging: the LOGGING dict instead of Celery's own (redaction, JSON), and log lines written
  inside a task carry the task's id as request id.
"""

import gc
import logging
import threading
import time

from celery import signals
from celery.platforms import EX_FAILURE
from celery.worker import state as worker_state
from django.conf import settings

logger = logging.getLogger("sundown.ops.worker")


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    # With a setup_logging receiver Celery configures no logging of its own, which would
    # replace the root handlers and with them the redaction: the LOGGING dict (JSON or
    # text lines, context fields, no secrets) governs workers too, and LOG_LEVEL, not
    # --loglevel, sets the level.
    import logging.config

    logging.config.dictConfig(settings.LOGGING)


# The collector's first generation runs every 50,000 net allocations instead of 700. A
# batch builds tens of thousands of short-lived objects (model rows, audit records,
# parameters), and each young collection also walked everything that survived
# earlier ones: a fifth of a batch's Python time (profile of 20,000 revocations in
# one process: 90-95 -> 68-74 us of CPU per credential). Reference cycles wait longer
# to be freed; a worker's memory grows by at most that many objects between passes.
GC_THRESHOLD = (50_000, 20, 100)


@signals.worker_init.connect
def _collector_tuned(**kwargs):
    # In the main process before the pool forks: the children inherit the thresholds,
    # and gc.freeze() moves everything imported so far (Django, the apps, the
    # connectors) out of the collector's sight for good, so no pass walks it again,
    # and the children's copy-on-write pages stay shared.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@signals.celeryd_init.connect
def _on_worker_init(**kwargs):
    # Before the pool forks: counters of this worker's previous life must not add up.
    from ops.metrics import multiprocess_dir_reset

    multiprocess_dir_reset()
    # Loaded once here, before the fork, instead of in every pool child at its first
    # batch: a restarted worker's children take work sooner.
    import revocation.services  # noqa: F401
    import revocation.services.batch  # noqa: F401


_started = False


@signals.worker_ready.connect
def _on_worker_ready(sender, **kwargs):
    global _started
    if _started:  # sent again after the consumer reconnects to the broker
        return
    _started = True
    controller = getattr(sender, "controller", None)
    hostname = getattr(sender, "hostname", None) or "worker"
    beat = getattr(controller, "beat", None)
    if beat is not None:
        _start_thread("beat-supervisor", _supervise_beat, beat)
    if settings.SUNDOWN_WATCHDOG_SECONDS > 0:
        _start_thread("sundown-watchdog", _watchdog_loop, f"worker {hostname}")
    if settings.SUNDOWN_WORKER_METRICS_PORT:
        from ops.metrics import worker_metrics_serve

        worker_metrics_serve(
            addr=settings.SUNDOWN_WORKER_METRICS_ADDR, port=settings.SUNDOWN_WORKER_METRICS_PORT
        )


def _start_thread(name, target, *args) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def _supervise_beat(beat) -> None:
    # The embedded beat is a child process (or a thread under some pools); either way
    # is_alive() turns False when it crashed, e.g. on a schedule file it cannot open.
    while True:
        time.sleep(1.0)
        if worker_state.should_stop or worker_state.should_terminate:
            return
        if not beat.is_alive():
            code = getattr(beat, "exitcode", None)
            logger.critical(
                "the embedded beat exited (code %s): stopping this worker with a failure so "
                "its supervisor restarts it with a clock",
                code,
            )
            worker_state.should_stop = EX_FAILURE  # type: ignore[assignment]  # typed None
            return


def _watchdog_loop(watcher: str) -> None:
    from django.db import close_old_connections, connection

    from ops import selectors, services

    watching_since = None
    while not (worker_state.should_stop or worker_state.should_terminate):
        try:
            if watching_since is None:
                watching_since = selectors.db_now()
            services.watchdog_check(watcher=watcher, watching_since=watching_since)
        except Exception:  # noqa: BLE001 - a database outage must not kill the watchdog
            logger.warning("watchdog check failed; retrying", exc_info=True)
            close_old_connections()
        finally:
            connection.close()
        time.sleep(settings.SUNDOWN_WATCHDOG_SECONDS)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _task_connections(task=None, **kwargs):
    # Celery's fixup keeps connections across tasks (CELERY_DB_REUSE_MAX); Django's own
    # check closes one that errored, failed its health check or is older than
    # CONN_MAX_AGE. An eager task runs inside its caller's transaction: left alone.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.task_prerun.connect
def _task_log_context(task_id=None, task=None, **kwargs):
    from ops.logs import log_context_reset

    log_context_reset(request_id=task_id or "", actor=f"task:{getattr(task, 'name', '')}")
