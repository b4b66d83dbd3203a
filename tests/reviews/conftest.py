"""Fixtures for reviews, attestation and time-based policies: the revocation tests'
real PostgreSQL roles and this process's own Celery queue."""

from tests.revocation.conftest import (  # noqa: F401 (fixtures)
    _test_broker,
    make_credentials,
    pg_roles,
    pg_system,
    vendor,
)
