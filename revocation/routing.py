"""Celery routing: the sweep on the default queue, each connector kind on a queue of its own.

A batch task goes to ``<default queue>.<kind>`` (``sundown.ldap``), so a slow directory
fills only its own queue and the workers serving database kinds and the sweep never
wait behind it. The router is Celery's own (CELERY_TASK_ROUTES); the kind travels as
the task's ``kind`` argument, so routing needs no database read at publish time.
``revocation.apps`` declares every queue, so a worker started without ``-Q`` serves all.
"""

from __future__ import annotations

BATCH_TASK = "revocation.revoke_system_batch"
# Reconciliation passes talk to the same targets: they share the kind's queue.
RECONCILE_TASK = "findings.reconcile_system"
ROUTED = (BATCH_TASK, RECONCILE_TASK)


def kind_queue(kind: str, default_queue: str) -> str:
    return f"{default_queue}.{kind}"


def queue_names(default_queue: str) -> list[str]:
    """The default queue and one per connector kind, in registry order."""
    from access.models import System

    return [default_queue, *(kind_queue(kind, default_queue) for kind in System.Kind.values)]


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: batch tasks by the kind they carry; everything else as configured."""
    kind = (kwargs or {}).get("kind")
    if name not in ROUTED or not kind:
        return None
    from config.celery import app

    # Read at publish time: tests point task_default_queue at a queue of their own.
    return {"queue": kind_queue(kind, app.conf.task_default_queue)}
