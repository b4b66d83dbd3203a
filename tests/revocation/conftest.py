"""Fixtures for the revocation tests: real PostgreSQL roles on the shared server."""

import os
import uuid

import psycopg2
import pytest

from access.models import System
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from tests.revocation.helpers import PG, pg_admin


@pytest.fixture
def vendor(agency):
    return VendorFactory(agency=agency, name="Acme Data Services GmbH")


@pytest.fixture
def pg_roles():
    """Create uniquely named LOGIN roles on 127.0.0.1:5432; dropped afterwards."""
    created: list[str] = []

    def make(n: int = 1, prefix: str = "sd") -> list[str]:
        names = [f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}" for _ in range(n)]
        with pg_admin() as cursor:
            for name in names:
                cursor.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD %s', ["vendor-pass-1"])
        created.extend(names)
        return names

    yield make
    with pg_admin() as cursor:
        for name in created:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [name],
            )
            cursor.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def pg_system(agency):
    """A postgres target system pointing at the shared server (trust auth on loopback)."""
    from access.crypto import encrypt

    return SystemFactory(
        agency=agency,
        name=f"pg-{uuid.uuid4().hex[:6]}",
        kind=System.Kind.POSTGRES,
        config={"host": PG["host"], "port": PG["port"], "user": "postgres", "dbname": "postgres"},
        secret_encrypted=encrypt("unused-under-trust"),
        owner_email="dba@agency.example",
    )


@pytest.fixture
def make_credentials(vendor):
    def make(system, names, contracts=None):
        contracts = contracts or [ContractFactory(vendor=vendor)]
        return [
            CredentialFactory(vendor=vendor, system=system, external_id=name, contracts=contracts)
            for name in names
        ]

    return make


def role_can_login(name: str) -> bool | None:
    with pg_admin() as cursor:
        cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


def connect_as(name: str):
    return psycopg2.connect(
        host=PG["host"], port=PG["port"], user=name, password="vendor-pass-1", dbname="postgres"
    )


@pytest.fixture(scope="session", autouse=True)
def _test_broker():
    """Messages published by this process go to its own queue on the shared Redis."""
    import redis

    from tests.revocation.helpers import session_broker, use_test_broker

    use_test_broker()
    yield
    broker_url, queue = session_broker()
    redis.Redis.from_url(broker_url).delete(queue)
