"""MariaDB and Redis keep their connection through a batch task's batches too
(revocation.connectors.kept; PostgreSQL: test_postgres_kept.py): one connection for a
task of three batches that each revoke for real, closed at its end; none kept outside a
task; a connection that failed is never handed on."""

import pymysql
import pytest
import redis

from revocation import tasks
from revocation.connectors import mariadb as mariadb_module
from revocation.connectors import redis as redis_module
from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.kept import kept_connections
from tests.revocation.connectors.servers import (
    LOOPBACK,
    MARIADB_PORT,
    credentials,
    mariadb_admin,
    request_all,
)
from tests.revocation.connectors.test_redis import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened(monkeypatch):
    """Connections and clients the two connectors create, in order (real ones)."""
    made: list = []
    real_connect, real_redis = pymysql.connect, redis.Redis

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        if "init_command" in kwargs:  # the connector's, not the tests' own
            made.append(conn)
        return conn

    class Counted(real_redis):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(mariadb_module.pymysql, "connect", connect)
    monkeypatch.setattr(redis_module.redis, "Redis", Counted)
    return made


def _task_in_batches_of_two(system, settings, monkeypatch) -> int:
    settings.SUNDOWN_REVOCATION_BATCH_SIZE = 2
    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda *a, **k: None)
    return tasks.revoke_system_batch_task(system.pk)


def test_a_mariadb_task_revokes_batch_after_batch_on_one_connection(
    mariadb_system, mariadb_users, opened, settings, monkeypatch
):
    system = mariadb_system(on_revoke="lock")
    names = mariadb_users(5)
    request_all(credentials(system, names, kind="database_role"))
    before = len(opened)

    assert _task_in_batches_of_two(system, settings, monkeypatch) == 5

    assert len(opened) == before + 1
    assert not opened[-1].open  # the task's end closed it
    for name in names:
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=LOOPBACK, port=MARIADB_PORT, user=name, password="vendor-pass-1")


def test_a_redis_task_revokes_batch_after_batch_on_one_client(
    redis_system, redis_users, opened, settings, monkeypatch
):
    system = redis_system()
    names = redis_users(5)
    request_all(credentials(system, names, kind="cache_user"))
    before = len(opened)

    assert _task_in_batches_of_two(system, settings, monkeypatch) == 5

    assert len(opened) == before + 1
    for name in names:
        with pytest.raises(redis.exceptions.AuthenticationError):
            login(name)


def test_outside_a_task_each_connector_closes_its_own(mariadb_system, redis_system, opened):
    for system in (mariadb_system(), mariadb_system(), redis_system(), redis_system()):
        with connector_for(system) as connector:
            connector.probe()
    assert len(opened) == 4
    assert not opened[0].open and not opened[1].open


def test_a_mariadb_connection_the_server_dropped_is_never_handed_on(mariadb_system, opened):
    system = mariadb_system()

    def thread_id(connector) -> int:
        return connector._run("SELECT CONNECTION_ID()")[0][0]

    with kept_connections():
        with connector_for(system) as first:
            kept_id = thread_id(first)
        with connector_for(system) as second:
            assert thread_id(second) == kept_id  # handed on
            with mariadb_admin() as admin, admin.cursor() as cursor:
                cursor.execute(f"KILL {int(kept_id)}")
            with pytest.raises(ConnectorError):
                second.probe()
        with connector_for(system) as third:
            assert thread_id(third) != kept_id
    assert len(opened) == 2 and not any(conn.open for conn in opened)
