"""MariaDB connector against the shared MariaDB: real accounts, real sessions."""

import pymysql
import pytest

from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.connectors.servers import (
    LOOPBACK,
    MARIADB_PORT,
    CallCounter,
    credentials,
    mariadb_admin,
)

pytestmark = pytest.mark.django_db


def login(name, password="vendor-pass-1"):
    return pymysql.connect(
        host=LOOPBACK, port=MARIADB_PORT, user=name, password=password, connect_timeout=5
    )


def accounts_named(name):
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT Host, JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv "
            "WHERE User = %s",
            (name,),
        )
        return cursor.fetchall()


@pytest.mark.parametrize("on_revoke", ["lock", "drop"])
def test_revoke_kills_the_session_and_refuses_new_logins(mariadb_system, mariadb_users, on_revoke):
    (name,) = mariadb_users()
    session = login(name)
    (credential,) = credentials(mariadb_system(on_revoke=on_revoke), [f"{name}@%"])

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)

    with pytest.raises(pymysql.OperationalError), session.cursor() as cursor:
        cursor.execute("SELECT 1")  # the server killed this connection
    with pytest.raises(pymysql.OperationalError) as refused:
        login(name)
    if on_revoke == "drop":
        assert accounts_named(name) == ()
        # Access denied: no such account (MariaDB answers 1698 when its auth
        # plugin lookup comes first, 1045 otherwise).
        assert refused.value.args[0] in (1045, 1698)
    else:
        ((host, locked),) = accounts_named(name)
        assert host == "%" and locked in ("true", "1")
        assert refused.value.args[0] == 4151  # this account is locked


def test_bare_user_name_covers_every_host(mariadb_system, mariadb_users):
    (name,) = mariadb_users()
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("CREATE USER %s@'localhost' IDENTIFIED BY 'x'", (name,))
    try:
        (credential,) = credentials(mariadb_system(), [name])
        with connector_for(credential.system) as connector:
            connector.revoke(credential)
            assert not connector.is_active(credential)
        assert {locked for _, locked in accounts_named(name)} <= {"true", "1"}
        assert len(accounts_named(name)) == 2
    finally:
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'localhost'", (name,))


def test_list_accounts_reports_locks(mariadb_system, mariadb_users):
    active, revoked = mariadb_users(2)
    system = mariadb_system()
    (credential,) = credentials(system, [f"{revoked}@%"])
    with connector_for(system) as connector:
        connector.revoke(credential)
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert accounts[f"{active}@%"].active is True
    assert accounts[f"{revoked}@%"].active is False


def test_batch_of_fifty_in_one_statement(mariadb_system, mariadb_users, monkeypatch):
    names = mariadb_users(50)
    sessions = [login(n) for n in names[:5]]
    system = mariadb_system()
    creds = credentials(system, [f"{n}@%" for n in names])
    with connector_for(system) as connector:
        assert connector.still_active(creds) == {c.pk for c in creds}
        executed = CallCounter(monkeypatch, pymysql.cursors.Cursor, "execute")
        results = connector.revoke_many(creds)
        statements = executed.calls
        assert connector.still_active(creds) == set()
    assert set(results.values()) == {None}
    # Look up, one ALTER USER for all 50, find sessions, then one KILL per open session.
    assert statements == 3 + len(sessions)
    for session in sessions:
        with pytest.raises(pymysql.OperationalError), session.cursor() as cursor:
            cursor.execute("SELECT 1")


def test_locked_account_with_a_surviving_session_still_counts_as_active(
    mariadb_system, mariadb_users
):
    (name,) = mariadb_users()
    session = login(name)
    (credential,) = credentials(mariadb_system(), [f"{name}@%"])
    with mariadb_admin() as admin, admin.cursor() as cursor:
        # Someone locked it by hand and forgot the open session.
        cursor.execute("ALTER USER %s@'%%' ACCOUNT LOCK", (name,))
    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
    session.close()


def test_account_without_privileges_is_permanent(mariadb_system, mariadb_users):
    weak, victim = mariadb_users(2)
    with mariadb_admin() as admin, admin.cursor() as cursor:
        cursor.execute("GRANT SELECT ON mysql.global_priv TO %s@'%%'", (weak,))
    system = mariadb_system(user=weak, secret="vendor-pass-1")
    (credential,) = credentials(system, [f"{victim}@%"])
    with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
        connector.revoke(credential)
    assert caught.value.permanent is True
    assert accounts_named(victim)[0][1] in (None, "false", "0")


def test_the_account_sundown_connects_as_is_never_revoked(agency):
    from access.models import Credential, System
    from tests.revocation.connectors.servers import free_port

    system = System(
        kind="mariadb", config={"host": "127.0.0.1", "port": free_port(), "user": "sd_admin"}
    )
    batch = [Credential(pk=1, external_id="sd_admin@%"), Credential(pk=2, external_id="sd_admin")]
    with connector_for(system) as connector:
        results = connector.revoke_many(batch)
    assert all(
        r is not None and r.permanent and "connects as" in r.message for r in results.values()
    )
