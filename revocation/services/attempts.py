"""Attempt rows: one per credential per call of a connector, written with its outcome."""

from __future__ import annotations

from django.db import connection

from access.models import Credential
from config.pgarray import bigint_array
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


_CREDENTIAL = ATTEMPT_COLUMNS.index("credential_id")
_ATTEMPT = ATTEMPT_COLUMNS.index("attempt")


def attempt_rows(rows: list[Credential], **values) -> list[tuple]:
    """``attempt_row`` of each of ``rows`` with the same ``values``, each row's own try
    (``row.attempts``) as its attempt. Built from one template: a keyword call per row was
    a tenth of a batch's record step."""
    if not rows:
        return []
    template = list(attempt_row(rows[0], attempt=rows[0].attempts, **values))
    out = []
    for row in rows:
        template[_CREDENTIAL] = row.pk
        template[_ATTEMPT] = row.attempts
        out.append(tuple(template))
    return out


# Array types of ATTEMPT_COLUMNS, for the one-statement insert on PostgreSQL.
_ARRAY_TYPES = (
    "bigint[]",
    "bigint[]",
    "text[]",
    "text[]",
    "integer[]",
    "text[]",
    "boolean[]",
    "text[]",
    "timestamptz[]",
    "timestamptz[]",
    "integer[]",
)


def insert_attempts(rows: list[tuple]) -> None:
    """One INSERT per batch. On PostgreSQL a column the same in every row (the
    system, worker, times of a batch) goes once, the others as one array each
    (``unnest``): a VALUES list of 11 parameters per row cost more to build, send and
    parse than the insert itself. The ORM's per-field preparation is skipped for the
    same reason: this sits on the hot path."""
    if not rows:
        return
    table = RevocationAttempt._meta.db_table
    columns = ", ".join(ATTEMPT_COLUMNS)
    if connection.vendor == "postgresql":
        _insert_postgresql(table, columns, rows)
        return
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for row in rows:
        for name, value in zip(ATTEMPT_COLUMNS, row, strict=True):
            params.append(adapt(value) if name in ("started_at", "finished_at") else value)
    placeholders = "(" + ", ".join(["%s"] * len(ATTEMPT_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(rows)),
            params,
        )


def _insert_postgresql(table: str, columns: str, rows: list[tuple]) -> None:
    # The credential (first column) always varies, so unnest yields one row per attempt.
    select, arrays, names = [], [], []
    scalars: list = []
    vectors: list[str | list] = []
    for i, (kind, column) in enumerate(zip(_ARRAY_TYPES, zip(*rows, strict=True), strict=True)):
        if i and len(set(column)) == 1:
            select.append(f"%s::{kind[:-2]}")
            scalars.append(column[0])
        else:
            select.append(f"v.c{i}")
            arrays.append(f"%s::{kind}")
            names.append(f"c{i}")
            vectors.append(_array(kind, column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} "
            f"FROM unnest({', '.join(arrays)}) AS v({', '.join(names)})",
            scalars + vectors,  # in the order of the placeholders: select list, then FROM
        )


def _array(kind: str, column: tuple) -> str | list:
    # Integer columns (the credential ids, always) as one literal (config.pgarray);
    # the rest, and a column holding NULLs, as psycopg2 adapts a list.
    if kind in ("bigint[]", "integer[]") and None not in column:
        return bigint_array(column)
    return list(column)
