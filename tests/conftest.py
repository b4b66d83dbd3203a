"""Shared fixtures: personas per role and agency, an audit helper, PostgreSQL flush support."""

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations

from audit.actor import Actor
from audit.models import AuditEvent
from tests.factories import AgencyFactory, UserFactory
from tests.sso.provider import oidc_provider, sso  # noqa: F401  (shared with tests/e2e)
from vendors.permissions import role_grant

_original_flush = DatabaseOperations.execute_sql_flush


def _flush_bypassing_audit_triggers(self, sql_list):
    # Transactional tests end with a TRUNCATE of every table; the audit table
    # refuses that by design. The test database role is a superuser, which may
    # bypass triggers for the duration of the flush (an app role cannot).
    with self.connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        _original_flush(self, sql_list)
    finally:
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")


DatabaseOperations.execute_sql_flush = _flush_bypassing_audit_triggers


@pytest.fixture
def agency(db):
    return AgencyFactory(name="Federal Ministry of Health", slug="health")


@pytest.fixture
def other_agency(db):
    return AgencyFactory(name="Regional Tax Office", slug="tax")


def _persona(username, agency, role):
    user = UserFactory(username=username)
    role_grant(user=user, agency=agency, role=role)
    return user


@pytest.fixture
def officer(agency):
    return _persona("officer", agency, "security_officer")


@pytest.fixture
def procurement(agency):
    return _persona("clerk", agency, "procurement")


@pytest.fixture
def auditor(agency):
    return _persona("auditor", agency, "auditor")


@pytest.fixture
def outsider(other_agency):
    return _persona("outsider", other_agency, "security_officer")


@pytest.fixture
def actor(officer):
    return Actor.for_user(officer, source_ip="192.0.2.10", request_id="req-1")


@pytest.fixture
def last_event():
    def _last(action=None):
        qs = AuditEvent.objects.order_by("-seq")
        if action:
            qs = qs.filter(action=action)
        return qs.first()

    return _last


@pytest.fixture
def tasks_run_on_commit(monkeypatch, django_capture_on_commit_callbacks):
    """``run(callable)``: call it and then run, in this process, every Celery task it
    sent on commit (Celery's eager mode): a job's start and the worker's part in one
    step, for tests of services and pages. Real workers: tests/e2e/test_jobs_e2e.py."""
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run
