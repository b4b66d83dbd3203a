"""Usage evidence: who used which access when, and what that use means.

Reconciliation reads it from the target (live sessions, last-logon attributes); log
shippers report it through the ingest API (``findings.ingest``). Both go through the
rules here: a use of a credential whose every contract had ended is
``used_after_contract_end``, and every use moves the credential's ``last_used_at``
forward (never back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Max

from access.models import Credential
from revocation.connectors.base import Account


def chunk_size() -> int:
    # SQLite limits bound parameters; psycopg2 interpolates on the client.
    return 900 if connection.vendor == "sqlite" else 50_000


def chunks(items: list, size: int | None = None):
    size = size or chunk_size()
    for i in range(0, len(items), size):
        yield items[i : i + size]


def account_evidence(account: Account) -> dict:
    """What a finding about ``account`` keeps of what the target showed."""
    evidence: dict = {"active": account.active}
    if account.detail:
        evidence["detail"] = account.detail[:500]
    if account.sessions:
        evidence["sessions"] = account.sessions
    if account.sources:
        evidence["sources"] = sorted(account.sources)[:20]
    if account.last_login_at:
        evidence["last_login_at"] = account.last_login_at.isoformat()
    if account.email:
        evidence["email"] = account.email
    return evidence


def access_ended_at(credential_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """When each credential's last contract ends (credentials with no contract are
    left out: nothing says when their access ends). One query."""
    ids = list(credential_ids)
    if not ids:
        return {}
    link = Credential.contracts.through
    # Any: the plugin cannot see the annotation.
    latest: Any = (
        link.objects.filter(credential_id__in=ids)
        .values("credential_id")
        .annotate(last_end=Max("contract__access_ends_at"))
    )
    return {pk: end for pk, end in latest.values_list("credential_id", "last_end") if end}


def last_used_update(*, used_now: list[int], now: dt.datetime, logins: dict[int, dt.datetime]):
    """Move ``last_used_at`` to ``now`` for credentials in use now, and to the login
    time for the others (callers pass only logins later than the stored value)."""
    for ids in chunks(used_now):
        Credential.objects.filter(pk__in=ids).update(last_used_at=now)
    in_use = set(used_now)
    later = [(pk, at) for pk, at in logins.items() if pk not in in_use]
    # One UPDATE ... FROM a list of (id, time) per chunk: bulk_update's CASE WHEN over
    # 500 ids was a third of a 1,000-event usage batch. "Never back" is in the statement,
    # so a concurrent later login is kept whichever commits first.
    table = Credential._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    for rows in chunks(later, chunk_size() // 2):
        values = ", ".join(["(%s, %s)"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v(id, at) AS (VALUES {values}) "
                f"UPDATE {table} SET last_used_at = v.at FROM v WHERE {table}.id = v.id "
                f"AND ({table}.last_used_at IS NULL OR {table}.last_used_at < v.at)",
                [value for pk, at in rows for value in (pk, adapt(at))],
            )
