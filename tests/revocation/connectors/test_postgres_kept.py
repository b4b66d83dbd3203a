"""A batch task's batches go on on one target connection (revocation.connectors.kept);
nothing is kept outside a task, after it, or once a connection has failed."""

import psycopg2
import pytest

from revocation import tasks
from revocation.connectors import postgres
from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.kept import kept_connections
from tests.revocation.conftest import role_can_login
from tests.revocation.helpers import pg_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def connections(monkeypatch):
    """Every connection the PostgreSQL connector opens, in order."""
    opened: list = []
    real = psycopg2.connect

    def counted(*args, **kwargs):
        conn = real(*args, **kwargs)
        if kwargs.get("application_name") == "sundown-revocation":  # not the tests' own
            opened.append(conn)
        return conn

    monkeypatch.setattr(postgres.psycopg2, "connect", counted)
    return opened


def _request(credentials):
    from audit.actor import Actor
    from revocation import services

    for credential in credentials:
        services.credential_revoke(
            actor=Actor.system("test"), credential=credential, reason="contract ended"
        )


def test_a_batch_task_revokes_batch_after_batch_on_one_connection(
    pg_system, pg_roles, make_credentials, connections, settings, monkeypatch
):
    settings.SUNDOWN_REVOCATION_BATCH_SIZE = 2
    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda *a, **k: None)
    names = pg_roles(5)
    _request(make_credentials(pg_system, names))
    before = len(connections)  # registering reads the target too

    assert tasks.revoke_system_batch_task(pg_system.pk) == 5  # three batches

    assert [role_can_login(name) for name in names] == [False] * 5
    assert len(connections) == before + 1
    assert connections[-1].closed  # the task's end closed what it kept


def test_outside_a_task_each_connector_closes_its_own(pg_system, connections):
    for _ in range(2):
        with connector_for(pg_system) as connector:
            connector.probe()
    assert len(connections) == 2 and all(conn.closed for conn in connections)


def test_a_connection_that_failed_is_never_handed_on(pg_system, connections):
    def backend_pid(connector) -> int:
        return connector._query("SELECT pg_backend_pid()")[0][0]

    with kept_connections():
        with connector_for(pg_system) as first:
            pid = backend_pid(first)
        with connector_for(pg_system) as second:
            assert backend_pid(second) == pid  # handed on
            with pg_admin() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            with pytest.raises(ConnectorError):
                second.probe()
        with connector_for(pg_system) as third:
            assert backend_pid(third) != pid
    assert len(connections) == 2 and all(conn.closed for conn in connections)


def test_another_system_never_gets_the_connection(pg_system, connections, agency):
    from tests.factories import SystemFactory

    other = SystemFactory(agency=agency, kind=pg_system.kind, config=pg_system.config)
    other.secret_encrypted = pg_system.secret_encrypted
    other.save()
    with kept_connections():
        with connector_for(pg_system) as connector:
            connector.probe()
        with connector_for(other) as connector:
            connector.probe()
    assert len(connections) == 2
