"""Pieces every topic module of the revocation services uses: who acts, the clock, targets."""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from django.db import connection
from django.db.models import Case, F, Lookup, Q, Value, When
from django.utils import timezone

from access.models import Credential, System
from audit.actor import Actor
from config.pgarray import bigint_array


def worker_actor() -> Actor:
    return Actor.system("revocation-worker")


def worker_identity() -> str:
    """Who holds a lease: host and pid, so an attempt row names the process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def db_now() -> datetime:
    """The database clock; decisions never use the worker's clock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]
    return timezone.now()  # SQLite runs on this machine: its clock is ours


class _AnyOf(Lookup):
    """``field = ANY(%s::bigint[])``: a batch's ids as one array parameter."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, bigint_array(self.rhs)]


def in_ids(field: str, pks: Collection[int]) -> Q:
    """``field`` among a batch's ids: one array parameter on PostgreSQL.

    Django prepares an ``IN (%s, %s, ...)`` list element by element, which for a
    batch of 1,000 ids costs more than the statement itself, several times a batch;
    the array goes as one literal (config.pgarray).
    A plain ``= ANY(array)`` (not a subquery of ``unnest``) also lets the planner
    estimate the rows from the array's length.
    """
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F(field), list(pks)))
    return Q(**{f"{field}__in": list(pks)})


def row_guard(condition: Q) -> Q:
    """``condition`` checked on each row found, never used to find rows.

    After a mass contract end the table's statistics still say almost nothing is
    pending: handed ``id = ANY(ids) AND status = 'pending'``, the planner walked the
    pending index (every pending row of the system) and tested each against the whole
    id array. Wrapped in a CASE the guard is opaque to it, so the rows come by id and
    the guard is a filter on those.
    """
    return Q(Case(When(condition, then=Value(True)), default=Value(False)))


_KIND_LABELS = dict(Credential.Kind.choices)


def credential_target(row: Credential) -> tuple[str, int, str]:
    return credential_target_of(row.pk, row.external_id, row.kind)


def credential_target_of(pk: int, external_id: str, kind: str) -> tuple[str, int, str]:
    # The same (type, id, repr) audit.services derives from the model, built from
    # plain values: a sweep of 100,000 credentials should not build 100,000 models.
    return ("access.credential", pk, f"{external_id} ({_KIND_LABELS.get(kind, kind)})")


def manual_task_target(pk: int) -> tuple[str, int, str]:
    return ("revocation.manualtask", pk, f"manual task {pk}")


def owner_user_email(system: System) -> str:
    """The address of the system's owner account (``System.owner_email`` is separate)."""
    return system.owner.email if system.owner_id and system.owner else ""


def group_by_value(mapping: dict[int, str]) -> dict[str, list[int]]:
    """Keys grouped by their value: one UPDATE per distinct value instead of one per row."""
    groups: dict[str, list[int]] = defaultdict(list)
    for key, value in mapping.items():
        groups[value].append(key)
    return groups
