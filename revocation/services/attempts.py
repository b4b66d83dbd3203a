"""Attempt rows: one per credential per call of a connector, written with its outcome."""

from __future__ import annotations

from django.db import connection

from access.models import Credential
from revocation.models import RevocationAttempt

ATTEMPT_COLUMNS = (
    "credential_id",
    "system_id",
    "connector",
    "worker",
    "attempt",
    "outcome",
    "permanent",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
)


def attempt_row(row: Credential, **values) -> tuple:
    """One row for ``insert_attempts``, in ``ATTEMPT_COLUMNS`` order."""
    values.setdefault("permanent", False)
    values.setdefault("error", "")
    values.setdefault("duration_ms", None)
    values["credential_id"] = row.pk
    return tuple(values[name] for name in ATTEMPT_COLUMNS)


def insert_attempts(rows: list[tuple]) -> None:
    """One multi-row INSERT per batch: the ORM's per-field preparation of 500 rows
    costs more than the statement itself, and this sits on the hot path."""
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for row in rows:
        for name, value in zip(ATTEMPT_COLUMNS, row, strict=True):
            params.append(adapt(value) if name in ("started_at", "finished_at") else value)
    placeholders = "(" + ", ".join(["%s"] * len(ATTEMPT_COLUMNS)) + ")"
    table = RevocationAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(ATTEMPT_COLUMNS)}) VALUES "
            + ", ".join([placeholders] * len(rows)),
            params,
        )
