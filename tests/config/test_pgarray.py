"""Array literals read back by PostgreSQL exactly as the values they were made of."""

import pytest
from django.db import connection

from config.pgarray import bigint_array, text_array

pytestmark = pytest.mark.django_db

AWKWARD = [
    "plain",
    'with "double" quotes',
    "back\\slash\\",
    "comma, and {braces}",
    "NULL",
    "",
    " leading and trailing ",
    "O'Brien",
    "ünïcödé ロール",
]


def test_text_array_round_trips_every_awkward_value():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array(AWKWARD)])
        assert cursor.fetchone()[0] == AWKWARD


def test_text_array_matches_role_names_like_a_list_does():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s::text[])",
            [text_array(["postgres", "no such role", 'x"y'])],
        )
        assert [row[0] for row in cursor.fetchall()] == ["postgres"]


def test_bigint_array_round_trips_and_takes_only_integers():
    ids = [1, 9_007_199_254_740_993, 42]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::bigint[]", [bigint_array(ids)])
        assert cursor.fetchone()[0] == ids
    assert bigint_array([]) == "{}"
    with pytest.raises(ValueError):
        bigint_array(["1}, {2"])  # type: ignore[list-item]
