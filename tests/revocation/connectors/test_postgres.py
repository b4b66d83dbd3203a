"""The PostgreSQL connector against real roles on 127.0.0.1:5432."""

import psycopg2
import pytest

from access.models import Credential, System
from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import pg_admin


def system(**config) -> System:
    return System(
        kind=System.Kind.POSTGRES,
        config={"host": "127.0.0.1", "port": 5432, "user": "postgres", **config},
    )


def creds(names, start=1) -> list[Credential]:
    return [Credential(pk=start + i, external_id=name) for i, name in enumerate(names)]


def test_revoke_many_nologin_ends_sessions_and_verifies(pg_roles):
    names = pg_roles(3)
    session = connect_as(names[0])
    batch = creds(names)
    with connector_for(system()) as connector:
        assert connector.still_active(batch) == {1, 2, 3}
        assert connector.revoke_many(batch) == {1: None, 2: None, 3: None}
        assert connector.still_active(batch) == set()
        # Idempotent: a second revocation of the same roles is a success too.
        assert connector.revoke_many(batch) == {1: None, 2: None, 3: None}
    assert [role_can_login(n) for n in names] == [False, False, False]
    with pytest.raises(psycopg2.Error), session.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_a_live_session_keeps_a_nologin_role_active(pg_roles):
    """Verify reads sessions too: NOLOGIN alone does not end an open connection."""
    (name,) = pg_roles(1)
    session = connect_as(name)
    try:
        with pg_admin() as cursor:
            cursor.execute(f'ALTER ROLE "{name}" NOLOGIN')
        with connector_for(system()) as connector:
            assert connector.still_active(creds([name])) == {1}
    finally:
        session.close()


def test_drop_mode_hands_owned_objects_over_and_drops_the_role(pg_roles):
    (name,) = pg_roles(1)
    table = f"sd_owned_{name}"
    with pg_admin() as cursor:
        cursor.execute(f'CREATE TABLE "{table}" (id int)')
        cursor.execute(f'ALTER TABLE "{table}" OWNER TO "{name}"')
    try:
        with connector_for(system(on_revoke="drop")) as connector:
            assert connector.revoke_many(creds([name])) == {1: None}
            assert connector.still_active(creds([name])) == set()
        assert role_can_login(name) is None
        with pg_admin() as cursor:
            cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", [table])
            assert cursor.fetchone()[0] == "postgres"  # the data stays; the access goes
    finally:
        with pg_admin() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{table}"')


def test_reserved_and_failing_roles_fail_alone(pg_roles):
    names = pg_roles(2)
    batch = creds([names[0], "pg_monitor", names[1]])
    with connector_for(system()) as connector:
        results = connector.revoke_many(batch)
    assert results[1] is None and results[3] is None
    assert isinstance(results[2], ConnectorError) and results[2].permanent


def test_list_accounts_reports_login_state(pg_roles):
    names = pg_roles(2)
    with pg_admin() as cursor:
        cursor.execute(f'ALTER ROLE "{names[1]}" NOLOGIN')
    with connector_for(system()) as connector:
        accounts = {a.external_id: a.active for a in connector.list_accounts()}
    assert accounts[names[0]] is True and accounts[names[1]] is False
    assert not any(name.startswith("pg_") for name in accounts)


def test_a_role_locked_by_someone_else_times_out_as_a_transient_error(pg_roles):
    (name,) = pg_roles(1)
    blocker = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    try:
        with blocker.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{name}" CONNECTION LIMIT 5')  # holds the row lock
        with connector_for(system(lock_timeout_ms=300)) as connector:
            result = connector.revoke_many(creds([name]))[1]
        assert isinstance(result, ConnectorError) and not result.permanent
        assert "lock timeout" in result.message
    finally:
        blocker.rollback()
        blocker.close()
    assert role_can_login(name) is True


def test_the_role_sundown_connects_as_is_never_revoked():
    from tests.revocation.connectors.servers import free_port

    # Refused before any connection: the port has nothing listening.
    with connector_for(system(user="sundown_admin", port=free_port())) as connector:
        results = connector.revoke_many(creds(["sundown_admin"]))
    assert results[1] is not None and results[1].permanent
    assert "connects as" in results[1].message
