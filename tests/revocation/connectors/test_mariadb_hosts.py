"""MariaDB host accounts and roles, against the real server: logins from 127.0.0.1
(TCP) and localhost (the socket), before and after."""

import pymysql
import pytest

from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.connectors.servers import (
    LOOPBACK,
    MARIADB_PORT,
    credentials,
    mariadb_admin,
    unique,
)

pytestmark = pytest.mark.django_db
SOCKET = "/run/mysqld/mysqld.sock"
HOSTS = ("%", "localhost", "127.0.0.1")


def login(user: str, via: str) -> bool:
    """A real login as the vendor: over TCP from 127.0.0.1, or over the socket (localhost)."""
    where = (
        {"unix_socket": SOCKET} if via == "localhost" else {"host": LOOPBACK, "port": MARIADB_PORT}
    )
    try:
        pymysql.connect(user=user, password="vendor-pass-1", connect_timeout=5, **where).close()
        return True
    except pymysql.OperationalError:
        return False


@pytest.fixture
def vendor_on_every_host():
    name = unique("peer")
    with mariadb_admin() as admin, admin.cursor() as cursor:
        for host in HOSTS:
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY 'vendor-pass-1'", (name, host))
    yield name
    with mariadb_admin() as admin, admin.cursor() as cursor:
        for host in HOSTS:
            cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))


@pytest.fixture
def role():
    name = unique("role")
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("CREATE ROLE %s", (name,))
    yield name
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS %s", (name,))


@pytest.mark.parametrize("on_revoke", ["lock", "drop"])
def test_user_at_percent_revokes_every_host_account_by_default(
    mariadb_system, vendor_on_every_host, on_revoke
):
    name = vendor_on_every_host
    assert login(name, "127.0.0.1") and login(name, "localhost")
    (credential,) = credentials(mariadb_system(on_revoke=on_revoke), [f"{name}@%"])
    with connector_for(credential.system) as connector:
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert connector.still_active([credential]) == set()
    assert not login(name, "127.0.0.1") and not login(name, "localhost")


def test_with_other_hosts_report_the_others_are_named_and_nothing_is_verified(
    mariadb_system, vendor_on_every_host
):
    name = vendor_on_every_host
    (credential,) = credentials(mariadb_system(other_hosts="report"), [f"{name}@%"])
    with connector_for(credential.system) as connector:
        error = connector.revoke_many([credential])[credential.pk]
        assert connector.still_active([credential]) == {credential.pk}
    assert isinstance(error, ConnectorError) and error.permanent
    assert f"{name}@localhost" in error.message and f"{name}@127.0.0.1" in error.message
    # What was left still logs in, which is why it was not called revoked.
    assert login(name, "127.0.0.1") and login(name, "localhost")


def test_verify_sees_another_host_account_still_open(mariadb_system, vendor_on_every_host):
    name = vendor_on_every_host
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("ALTER USER %s@'%%' ACCOUNT LOCK", (name,))
    (credential,) = credentials(mariadb_system(), [f"{name}@%"])
    with connector_for(credential.system) as connector:
        assert connector.still_active([credential]) == {credential.pk}


def test_a_role_is_a_permanent_error_not_a_revocation(mariadb_system, role):
    (credential,) = credentials(mariadb_system(), [role])
    with connector_for(credential.system) as connector:
        assert connector.missing([credential]) == {}  # it is there, as a role
        error = connector.revoke_many([credential])[credential.pk]
    assert isinstance(error, ConnectorError) and error.permanent
    assert "is a role, not a user" in error.message


def test_an_unknown_other_hosts_value_is_permanent(mariadb_system):
    with pytest.raises(ConnectorError, match="other_hosts must be") as exc:
        connector_for(mariadb_system(other_hosts="sometimes"))
    assert exc.value.permanent
