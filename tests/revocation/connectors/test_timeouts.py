"""A target that stops answering mid-call fails that call in seconds, as a transient
error, instead of holding the batch for as long as the target is frozen."""

import time

import pytest

from revocation.connectors.base import ConnectorError
from revocation.connectors.postgres import PostgresConnector
from tests.factories import SystemFactory
from tests.revocation.helpers import PG, StallProxy

pytestmark = pytest.mark.django_db


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
    assert not caught.value.permanent
    assert "did not answer within 1 s" in caught.value.message


def test_postgres_connect_to_a_frozen_server_times_out(agency):
    with StallProxy((PG["host"], PG["port"])) as proxy:
        proxy.freeze()  # accepts, never answers the startup packet
        system = SystemFactory(
            agency=agency,
            kind="postgres",
            config={"host": "127.0.0.1", "port": proxy.port, "connect_timeout": 1},
        )
        connector = PostgresConnector(system)
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            connector.list_accounts()
        elapsed = time.monotonic() - started
        connector.close()
    assert elapsed < 4, elapsed
    assert not caught.value.permanent
