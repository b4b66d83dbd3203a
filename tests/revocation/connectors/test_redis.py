"""Redis connector against the shared Redis: real ACL users, real connections."""

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.connectors.servers import (
    LOOPBACK,
    REDIS_PORT,
    CallCounter,
    credentials,
    redis_admin,
)

pytestmark = pytest.mark.django_db


def login(name, password="vendor-pass-1"):
    client = redis.Redis(
        host=LOOPBACK,
        port=REDIS_PORT,
        username=name,
        password=password,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),  # a refused AUTH fails at once, not after backoff
    )
    client.ping()
    return client


def connections_of(name):
    return [c for c in redis_admin().client_list() if c.get("user") == name]


@pytest.mark.parametrize("on_revoke", ["disable", "delete"])
def test_revoke_ends_the_session_and_refuses_new_logins(redis_system, redis_users, on_revoke):
    (name,) = redis_users()
    session = login(name)
    assert connections_of(name)
    (credential,) = credentials(redis_system(on_revoke=on_revoke), [name], kind="cache_user")

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)

    assert not connections_of(name)
    # The old connection is gone: its next command reconnects and AUTH is refused.
    with pytest.raises(redis.AuthenticationError):
        session.ping()
    with pytest.raises(redis.AuthenticationError):
        login(name)
    user = redis_admin().acl_getuser(name)
    if on_revoke == "delete":
        assert user is None
    else:
        assert user["flags"] == ["off"] and user["passwords"] == []


def test_list_accounts_reports_on_and_off(redis_system, redis_users):
    active, revoked = redis_users(2)
    system = redis_system()
    (credential,) = credentials(system, [revoked])
    with connector_for(system) as connector:
        connector.revoke(credential)
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert accounts[active].active is True
    assert accounts[revoked].active is False


def test_batch_of_fifty_takes_three_round_trips(redis_system, redis_users, monkeypatch):
    names = redis_users(50)
    sessions = [login(n) for n in names[:5]]
    system = redis_system()
    creds = credentials(system, names)
    with connector_for(system) as connector:
        assert connector.still_active(creds) == {c.pk for c in creds}
        sent = CallCounter(monkeypatch, redis.connection.Connection, "send_packed_command")
        results = connector.revoke_many(creds)
        remaining = connector.still_active(creds)
    assert set(results.values()) == {None}
    assert remaining == set()
    # Look up, change + kill, verify: one pipeline each.
    assert sent.calls == 3
    for session in sessions:
        with pytest.raises(redis.AuthenticationError):
            session.ping()


def test_user_without_acl_rights_is_permanent(redis_system, redis_users):
    (weak,) = redis_users(password="weak-pass", commands=("+ping", "+client", "+hello"))
    (victim,) = redis_users()
    system = redis_system(user=weak, secret="weak-pass")
    (credential,) = credentials(system, [victim])
    with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
        connector.revoke(credential)
    assert caught.value.permanent is True


def test_refuses_to_revoke_its_own_user_but_revokes_the_rest(redis_system, redis_users):
    (other,) = redis_users()
    system = redis_system()
    own, victim = credentials(system, ["default", other])
    with connector_for(system) as connector:
        results = connector.revoke_many([own, victim])
        assert connector.still_active([victim]) == set()
    assert results[own.pk].permanent is True
    assert results[victim.pk] is None
    assert redis_admin().acl_getuser("default")["flags"][0] == "on"


def test_a_disabled_user_with_a_live_connection_still_counts_as_active(redis_system, redis_users):
    (name,) = redis_users()
    session = login(name)
    # Someone turned the user off by hand and left its connection open.
    redis_admin().acl_setuser(name, enabled=False)
    (credential,) = credentials(redis_system(), [name])
    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)
    session.close()
