"""A worker keeps its database connection from one task to the next, but not a broken or
an old one (CELERY_DB_REUSE_MAX and ops.celery's task hooks); it tunes its collector
before the pool forks."""

from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from ops.celery import _task_connections

pytestmark = pytest.mark.django_db(transaction=True)


def _task(*, eager: bool = False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 1"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def max_age():
    """Set CONN_MAX_AGE for connections opened from now on, then put it back."""
    before = connection.settings_dict["CONN_MAX_AGE"]

    def set_age(seconds):
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = seconds
        connection.ensure_connection()

    yield set_age
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = before


def test_celery_reads_the_reuse_setting():
    # Without it, Celery's Django fixup closes the connection around every task.
    assert settings.CELERY_DB_REUSE_MAX > 1
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX


def test_a_healthy_connection_outlives_the_task(max_age):
    max_age(600)
    pid = _backend_pid()
    _task_connections(task=_task())
    assert connection.connection is not None
    assert _backend_pid() == pid


def test_a_connection_past_its_age_is_closed(max_age):
    max_age(0)
    _backend_pid()
    _task_connections(task=_task())
    assert connection.connection is None


def test_a_broken_connection_is_closed(max_age):
    max_age(600)
    _backend_pid()
    connection.errors_occurred = True
    connection.connection.close()  # the server went away under it
    _task_connections(task=_task())
    assert connection.connection is None
    _backend_pid()  # and the next task gets a new one


def test_an_eager_task_leaves_its_callers_connection_alone(max_age):
    max_age(0)
    _backend_pid()
    _task_connections(task=_task(eager=True))
    assert connection.connection is not None


def test_a_worker_tunes_its_collector_before_the_pool_forks():
    import gc

    from ops.celery import GC_THRESHOLD, _collector_tuned

    before = gc.get_threshold()
    try:
        _collector_tuned()
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
