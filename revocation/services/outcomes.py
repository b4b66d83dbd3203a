"""What a batch came to, decided without the database: the pure step of the batch.

``classify`` takes the claimed rows, which of them are still ours, and what the
connector said (its per-credential errors and the verify read), and says for each
row: revoked, handed to a person, retrying, failed, lost to another worker, or
deferred (the target did not answer, or the batch's time ran out before the row).
batch.py then writes those decisions; the rules live here and are unit-tested
without PostgreSQL or a target.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from revocation.connectors.base import ConnectorError
from revocation.models import RevocationAttempt

Outcome = RevocationAttempt.Outcome

STILL_ACCEPTED = "the target still accepts this credential after revocation"


class ClaimedRow(Protocol):
    """What classification needs of a claimed credential."""

    pk: int
    attempts: int


@dataclass(frozen=True)
class ConnectorReport:
    """What one call of a connector on a batch returned.

    ``errors`` holds one entry per credential: None when the revoke call succeeded.
    ``still_active`` are the ids the verify read still found able to log in.
    ``verifies`` is False for connectors that hand the work to a person.
    ``seen`` are the ids whose account the target showed before the revoke.
    """

    errors: dict[int, ConnectorError | None]
    still_active: frozenset[int] = frozenset()
    verifies: bool = True
    seen: frozenset[int] = frozenset()
    notes: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A row whose attempt did not end in a verified revocation."""

    pk: int
    attempt: int
    outcome: str
    message: str
    permanent: bool
    final: bool  # out of tries or permanent: the credential becomes failed


@dataclass
class Classified:
    """Each claimed row under exactly one heading, in claim order."""

    revoked: list[int] = field(default_factory=list)
    handed_off: list[int] = field(default_factory=list)
    lost_lease: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    # Back to the queue without a row each: the target did not answer (``unreachable``
    # says why, and opens the system's outage) or the row was never tried (``untried``).
    deferred: list[int] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)
    unreachable: ConnectorError | None = None

    @property
    def retrying(self) -> list[int]:
        return [f.pk for f in self.failures if not f.final]

    @property
    def failed(self) -> list[int]:
        return [f.pk for f in self.failures if f.final]


def classify(
    rows: Sequence[ClaimedRow],
    *,
    mine: Collection[int],
    report: ConnectorReport,
    max_attempts: int,
) -> Classified:
    """Decide every row of a batch from the connector's report.

    ``mine`` are the rows still under this worker's lease when the outcome is
    recorded: the others were re-claimed by someone else, who records them.
    A row the connector gave no answer for counts as an error, never a success.
    """
    result = Classified()
    for row in rows:
        if row.pk not in mine:
            result.lost_lease.append(row.pk)
            continue
        error = report.errors.get(row.pk, _NO_RESULT)
        if error is not None and error.untried:
            result.deferred.append(row.pk)
            result.untried.append(row.pk)
        elif error is not None and error.unreachable and row.attempts < max_attempts:
            # Not a verdict on this credential: the whole system waits for its target.
            # The try still counts, so a target that keeps failing mid-batch ends in
            # the ladder's failure and a person, not in a loop.
            result.deferred.append(row.pk)
            result.unreachable = result.unreachable or error
        elif error is None and not report.verifies:
            result.handed_off.append(row.pk)
        elif error is None and row.pk not in report.still_active:
            result.revoked.append(row.pk)
        else:
            result.failures.append(_failure(row, error, max_attempts=max_attempts))
    return result


_NO_RESULT = ConnectorError("connector returned no result for this credential")


def _failure(row: ClaimedRow, error: ConnectorError | None, *, max_attempts: int) -> Failure:
    if error is None:
        # The call returned, but the read-back shows the access is still there.
        outcome, message, permanent = Outcome.VERIFY_FAILED, STILL_ACCEPTED, False
    else:
        outcome, message, permanent = Outcome.ERROR, error.message, error.permanent
    return Failure(
        pk=row.pk,
        attempt=row.attempts,
        outcome=outcome,
        message=message,
        permanent=permanent,
        final=permanent or row.attempts >= max_attempts,
    )
