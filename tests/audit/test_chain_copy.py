"""The chain check's fast pass reads rows as COPY text; it must see what the exact pass sees.

A row the fast pass misreads would only send its chunk to the exact pass (slower, still
right), so these check that it does not: every character, COPY's escapes and a value
that looks like its NULL marker go through the fast pass itself, with the same leaves.
"""

import hashlib

import pytest
from django.db import connection, transaction

from audit import chain_chunks
from audit.actor import Actor
from audit.services import PendingEvent, audit_record_many

pytestmark = pytest.mark.django_db


def test_the_fast_pass_reads_every_character_escape_and_null_as_the_exact_pass():
    every = "".join(chr(c) for c in range(1, 128)) + "\u2028 \u00e9 \U0001f600 \ufeff"
    for ip, name in (("192.0.2.1", every), (None, "\\N"), ("2001:db8::1", "a\\Nb\\\\N\\")):
        with transaction.atomic():
            audit_record_many(
                actor=Actor(type="user", id="\\N", name=name, source_ip=ip, request_id="\\"),
                events=[
                    PendingEvent(
                        every[:100],
                        target=("\\N", every[:64], every),
                        agency_id=None if ip is None else -(2**62),
                        before=None if ip else {every: every, "\\N": "\\N"},
                        after={"n": [1.5, 1e-07, 2**70, True], "t": "\t\\N"},
                    ),
                    PendingEvent("plain", after={"k": "v"}),
                ],
            )
    with connection.cursor() as cursor:
        fast = chain_chunks._fast_chunk(cursor, 0, 6)
        exact = list(chain_chunks.text_rows(cursor, 0, 6))
    assert fast is not None  # no row sent the chunk to the exact pass
    assert (fast.rows, fast.first_prev, fast.last_hash) == (6, exact[0][2], exact[-1][3])
    assert fast.leaves == b"".join(hashlib.sha256(b"\x00" + row[4]).digest() for row in exact)
