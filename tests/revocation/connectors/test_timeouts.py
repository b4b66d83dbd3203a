"""A target that stops answering fails the call in seconds, as a transient error that
says the target (not the credential) is gone, instead of holding the batch for as long
as the target is frozen: for every connector that talks to a server, both when the
server freezes mid-session and when it never answers the connection."""

import time
from urllib.parse import urlsplit

import pytest

from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.postgres import PostgresConnector
from revocation.connectors.registry import connector_class
from tests.factories import SystemFactory
from tests.revocation.connectors.targets import TARGETS, Target
from tests.revocation.helpers import PG, StallProxy

pytestmark = pytest.mark.django_db

# One mode per kind is enough: the timeouts sit below the modes. htpasswd is a local
# file (its only wait, for another worker's lock, has its own timeout test).
NETWORKED = {}
for _name, (_cls, _mode) in TARGETS.items():
    if _cls.kind != "htpasswd" and _cls.kind not in {c.kind for c, _ in NETWORKED.values()}:
        NETWORKED[_name] = (_cls, _mode)
NETWORKED["scimmy-deactivate"] = TARGETS["scimmy-deactivate"]  # a second SCIM server
# Every timeout a kind has, at 1 s.
SHORT = {
    "postgres": {"connect_timeout": 1, "read_timeout": 1},
    "mariadb": {"timeout": 1, "read_timeout": 1},
    # A command through sshd on a busy machine can be silent for a second even when
    # the host answers.
    "ssh": {"timeout": 3},
}


@pytest.fixture(params=list(NETWORKED))
def target(request, agency) -> Target:
    cls, mode = NETWORKED[request.param]
    return cls(request, agency, **mode)


def through(target: Target, proxy_port: int, config: dict):
    """The target's system, reached through the proxy."""
    overrides = {"timeout": 1, **SHORT.get(target.kind, {})}
    if config.get("url"):
        parts = urlsplit(config["url"])
        overrides["url"] = parts._replace(netloc=f"{parts.hostname}:{proxy_port}").geturl()
    else:
        overrides["port"] = proxy_port
    return target.system(**overrides)


def fails_fast(connector) -> ConnectorError:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        connector.list_accounts()
    elapsed = time.monotonic() - started
    assert elapsed < 8, elapsed  # seconds, where a frozen target once held a batch minutes
    assert not caught.value.permanent and caught.value.unreachable, caught.value.message
    return caught.value


def test_a_target_frozen_mid_session_or_before_it_answers_fails_in_seconds(target):
    config = target.system().config
    [destination] = connector_class(target.kind).destinations(config)
    # Listening on the server's own address: a certificate names that address.
    with StallProxy(destination, host=destination[0]) as proxy:
        system = through(target, proxy.port, config)
        with connector_for(system) as connector:
            connector.list_accounts()  # connected, answering
            proxy.freeze()
            fails_fast(connector)
        with connector_for(system) as connector:
            fails_fast(connector)  # accepts the connection, never answers
        proxy.thaw()
        with connector_for(system) as connector:
            connector.probe()  # back: a fresh connection works again


def test_postgres_call_to_a_frozen_server_is_cut_after_read_timeout(agency):
    with StallProxy((PG["host"], PG["port"])) as proxy:
        system = SystemFactory(
            agency=agency,
            kind="postgres",
            config={
                "host": "127.0.0.1",
                "port": proxy.port,
                "user": "postgres",
                "dbname": "postgres",
                "read_timeout": 1,
            },
        )
        connector = PostgresConnector(system)
        try:
            assert connector.list_accounts()  # connected and answering
            proxy.freeze()
            started = time.monotonic()
            with pytest.raises(ConnectorError) as caught:
                connector.list_accounts()
            elapsed = time.monotonic() - started
        finally:
            connector.close()
    assert 0.9 <= elapsed < 3, elapsed
    assert not caught.value.permanent and caught.value.unreachable
    assert "did not answer within 1 s" in caught.value.message
