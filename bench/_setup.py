"""Shared set-up for benchmarks: a fresh PostgreSQL database, migrated, with Django loaded."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_on_fresh_database(name: str, *, host: str = "127.0.0.1", port: int = 5432) -> None:
    """(Re)create database ``name`` on the local PostgreSQL and migrate it."""
    import psycopg2

    admin = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ["DATABASE_URL"] = f"postgres://postgres@{host}:{port}/{name}"
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("SUNDOWN_ENCRYPTION_KEYS", "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDA=")
    # One process; targets on this machine's shared PostgreSQL/Redis (access.destinations).
    os.environ.setdefault("CACHE_URL", "locmem://")
    os.environ.setdefault("SUNDOWN_TARGET_ALLOWLIST", "127.0.0.0/8")
    os.environ.setdefault("SUNDOWN_TARGET_ALLOW_OWN_SERVICES", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database(name: str, *, host: str = "127.0.0.1", port: int = 5432) -> None:
    import psycopg2
    from django.db import connections

    connections.close_all()
    admin = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def admin_sql(sql: str, *, host: str = "127.0.0.1", port: int = 5432) -> None:
    """Run one statement as postgres on the maintenance database (CREATE/DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def running_contracts(agency, vendors, *, digits: int) -> list:
    """One contract per vendor, started 100 days ago and ending in 300 (C-<i>), saved."""
    import datetime as dt

    from django.utils import timezone

    from vendors.models import Contract

    today = timezone.localdate()
    contracts = []
    for i, vendor in enumerate(vendors):
        contract = Contract(
            vendor=vendor,
            reference=f"C-{i:0{digits}d}",
            start_date=today - dt.timedelta(days=100),
            end_date=today + dt.timedelta(days=300),
        )
        contract.access_ends_at = contract.compute_access_ends_at(agency)
        contracts.append(contract)
    return Contract.objects.bulk_create(contracts)
