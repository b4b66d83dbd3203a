"""The fifteen tampering cases of test_tampering.py, with the chain recomputed in chunks.

Three more ways besides that module's single pass: chunks of 2 events in this
process, chunks of 3 events in 2 processes (so the tampered rows sit at chunk borders
in one way or the other), and 2 processes with the default chunk. Each must name the
same first bad seq. Processes read their own snapshot of committed rows, hence the
transactional database here.
"""

import pytest

from audit import chain_check
from audit.hashing import compute_hash
from audit.selectors import audit_chain_verify
from tests.audit import test_tampering as cases
from tests.audit.test_tampering import _rows, _sql, trail  # noqa: F401  (the cases' fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(
    autouse=True,
    params=[(1, 2), (2, 3), (2, None)],
    ids=["chunks-of-2", "2-processes-chunks-of-3", "2-processes"],
)
def chunked(request, settings, monkeypatch):
    workers, chunk = request.param
    settings.SUNDOWN_AUDIT_VERIFY_WORKERS = workers
    if chunk is not None:
        monkeypatch.setattr(chain_check, "CHUNK_EVENTS", chunk)


globals().update({name: getattr(cases, name) for name in dir(cases) if name.startswith("test_")})


def test_link_edited_and_own_hash_recomputed_at_a_chunk_border(trail, settings):
    # Only the link check can see this one: seq 7 hashes right and follows seq 6 by
    # number, but names another parent. With chunks of 2 or 3, seq 7 opens a chunk.
    row = dict(_rows()[6], prev_hash="e" * 64)
    _sql(
        (
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = 7",
            [row["prev_hash"], compute_hash(row, row["prev_hash"])],
        )
    )
    report = audit_chain_verify(workers=settings.SUNDOWN_AUDIT_VERIFY_WORKERS)
    assert (report.ok, report.first_bad_seq) == (False, 7), report.message
    assert "does not link to seq 6" in report.message


def test_event_deleted_at_a_chunk_border_is_named_by_the_chain_alone(trail, settings):
    # Without the checkpoints' help: with chunks of 2, seq 6 opens the chunk after 4.
    _sql("DELETE FROM audit_auditevent WHERE seq = 5")
    report = audit_chain_verify(workers=settings.SUNDOWN_AUDIT_VERIFY_WORKERS)
    assert (report.ok, report.first_bad_seq) == (False, 5), report.message
    assert report.message == "seq 5 is missing (next is 6)"
