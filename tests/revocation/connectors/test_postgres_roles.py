"""PostgreSQL role graphs, names and rights, against the real server on 127.0.0.1:5432.

Each case logs in as the vendor (or as a role that could SET ROLE to it) before and
after, because a catalog flag is not the same as a refused login.
"""

import os
import uuid

import psycopg2
import pytest

from access.models import Credential, System
from revocation import services
from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.connectors.servers import request_all
from tests.revocation.helpers import PG, pg_admin


def system(**config) -> System:
    return System(
        kind=System.Kind.POSTGRES,
        config={"host": PG["host"], "port": PG["port"], "user": "postgres", **config},
    )


def creds(names, start=1) -> list[Credential]:
    return [Credential(pk=start + i, external_id=name) for i, name in enumerate(names)]


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def roles():
    """make(sql_options, prefix): a role created with these options; dropped afterwards."""
    made: list[str] = []

    def make(options: str = "LOGIN", prefix: str = "sd", name: str | None = None) -> str:
        name = name or unique(prefix)
        with pg_admin() as cursor:
            cursor.execute(f'CREATE ROLE "{name}" {options} PASSWORD %s', ["vendor-pass-1"])
        made.append(name)
        return name

    yield make
    with pg_admin() as cursor:
        for name in reversed(made):
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [name],
            )
            cursor.execute(f'DROP OWNED BY "{name}"') if role_can_login(name) is not None else None
            cursor.execute(f'DROP ROLE IF EXISTS "{name}"')


def can_set_role(member: str, role: str) -> bool:
    conn = connect_as(member)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'SET ROLE "{role}"')
        return True
    except psycopg2.Error:
        return False
    finally:
        conn.close()


def can_login(name: str) -> bool:
    try:
        connect_as(name).close()
        return True
    except psycopg2.OperationalError:
        return False


def alive(conn) -> bool:
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except psycopg2.Error:
        return False


@pytest.mark.django_db(transaction=True)
def test_a_name_in_another_case_is_not_found_and_names_the_close_match(
    roles, pg_system, make_credentials, monkeypatch
):
    from revocation import tasks

    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid: None)
    real = roles(name=unique("PEER_Case"))
    (credential,) = make_credentials(pg_system, [real.lower()])
    request_all([credential])
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.revoked == [] and result.failed == [credential.pk]
    credential.refresh_from_db()
    assert (
        "not found on the target" in credential.last_error and repr(real) in credential.last_error
    )
    assert can_login(real)  # the live role was not touched, and not called revoked


def test_members_lose_set_role_and_their_sessions_end(roles):
    vendor = roles("LOGIN")
    member = roles("LOGIN", "member")
    group = roles("NOLOGIN", "group")
    via_group = roles("LOGIN", "via")
    with pg_admin() as cursor:
        cursor.execute(f'GRANT "{vendor}" TO "{member}"')
        cursor.execute(f'GRANT "{vendor}" TO "{group}"')
        cursor.execute(f'GRANT "{group}" TO "{via_group}"')
    assert can_set_role(member, vendor) and can_set_role(via_group, vendor)
    as_vendor = connect_as(member)  # a member's session working as the vendor
    with as_vendor.cursor() as cursor:
        cursor.execute(f'SET ROLE "{vendor}"')
    batch = creds([vendor])
    with connector_for(system()) as connector:
        # Before: LOGIN, members, sessions; all of it counts as access.
        assert connector.still_active(batch) == {1}
        assert connector.revoke_many(batch) == {1: None}
        assert member in connector.notes[1] and via_group in connector.notes[1]
        assert connector.still_active(batch) == set()
    assert not can_login(vendor)
    assert not can_set_role(member, vendor) and not can_set_role(via_group, vendor)
    assert not alive(as_vendor)  # pg_stat_activity named the member, not the vendor
    assert can_login(member)  # the member keeps its own login


def test_with_revoke_memberships_off_members_are_reported_and_nothing_is_verified(roles):
    vendor = roles("LOGIN")
    member = roles("LOGIN", "member")
    with pg_admin() as cursor:
        cursor.execute(f'GRANT "{vendor}" TO "{member}"')
        cursor.execute(f'ALTER ROLE "{vendor}" NOLOGIN')  # what an admin might stop at
    with connector_for(system(revoke_memberships=False)) as connector:
        assert connector.still_active(creds([vendor])) == {1}  # pg_auth_members counts
        error = connector.revoke_many(creds([vendor]))[1]
    assert isinstance(error, ConnectorError) and error.permanent
    assert member in error.message and "SET ROLE" in error.message
    assert can_set_role(member, vendor)
    with pytest.raises(ConnectorError, match="revoke_memberships"):
        connector_for(system(revoke_memberships="no"))


def test_a_failed_drop_leaves_the_role_unable_to_log_in(roles):
    vendor = roles("LOGIN")
    other_db = unique("sd_db").lower()
    session = connect_as(vendor)
    with pg_admin() as cursor:
        cursor.execute(f'CREATE DATABASE "{other_db}"')
    try:
        with pg_admin(other_db) as cursor:
            cursor.execute(f'CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO "{vendor}"')
        with connector_for(system(on_revoke="drop")) as connector:
            error = connector.revoke_many(creds([vendor]))[1]
            assert isinstance(error, ConnectorError) and error.permanent
            assert "DROP ROLE failed" in error.message and "NOLOGIN" in error.message
            assert connector.still_active(creds([vendor])) == {1}  # it still exists
        assert role_can_login(vendor) is False
        assert not can_login(vendor) and not alive(session)
    finally:
        with pg_admin(other_db) as cursor:
            cursor.execute("DROP TABLE kept")
        with pg_admin() as cursor:
            cursor.execute(f'DROP DATABASE "{other_db}"')


def test_a_vendor_holding_a_lock_does_not_keep_working_in_drop_mode(roles):
    vendor = roles("LOGIN")
    table = unique("sd_locked")
    with pg_admin() as cursor:
        cursor.execute(
            f'CREATE TABLE "{table}" (id int); ALTER TABLE "{table}" OWNER TO "{vendor}"'
        )
    session = connect_as(vendor)
    with session.cursor() as cursor:  # an open transaction holding its table
        cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    try:
        with connector_for(system(on_revoke="drop", lock_timeout_ms=500)) as connector:
            assert connector.revoke_many(creds([vendor])) == {1: None}
            assert connector.still_active(creds([vendor])) == set()
        assert not alive(session) and role_can_login(vendor) is None
    finally:
        with pg_admin() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{table}"')


@pytest.fixture
def connector_role(roles):
    """A non-superuser connector account: CREATEROLE and pg_signal_backend."""
    name = roles("LOGIN CREATEROLE", "connector")
    with pg_admin() as cursor:
        cursor.execute(f'GRANT pg_signal_backend TO "{name}"')
    return name


def test_the_connector_refuses_to_revoke_its_own_role(connector_role):
    with connector_for(system(user=connector_role)) as connector:
        error = connector.revoke_many(creds([connector_role]))[1]
    assert isinstance(error, ConnectorError) and error.permanent
    assert "own login role" in error.message
    assert can_login(connector_role)


def test_a_superuser_role_is_refused_with_the_reason(roles, connector_role):
    boss = roles("LOGIN SUPERUSER", "boss")
    with connector_for(system(user=connector_role)) as connector:
        error = connector.revoke_many(creds([boss]))[1]
        assert connector.still_active(creds([boss])) == {1}
    assert isinstance(error, ConnectorError) and error.permanent
    assert "superuser" in error.message and connector_role in error.message
    assert can_login(boss)


def test_missing_rights_are_named(roles):
    vendor = roles("LOGIN")
    weak = roles("LOGIN", "weak")  # no CREATEROLE
    with connector_for(system(user=weak)) as connector:
        error = connector.revoke_many(creds([vendor]))[1]
    assert isinstance(error, ConnectorError) and error.permanent
    assert "lacks the rights" in error.message
    assert can_login(vendor)
