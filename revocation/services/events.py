"""Audit events of the engine's outcomes, and the one builder of ``credential.revoked``.

A credential is revoked three ways, and the trail says which in one shape:

- ``how="connector"``: the engine revoked it and a read of the target showed it
  gone (``verified`` True, with the connector and attempt).
- ``how="manual_task"``: a person completed the manual task the engine opened
  (``verified`` False, ``confirmed_by``, the task and the person's note).
- ``how="confirmation"``: a person recorded that active access was already gone
  (``verified`` False, ``confirmed_by`` and their reason).

``by`` is "engine" or "person", so a reader can tell a verified revocation from
a person's word without knowing every ``how``.
"""

from __future__ import annotations

from typing import Literal

from access.models import Credential, System
from audit.services import PendingEvent
from revocation.services.common import credential_target
from revocation.services.outcomes import Classified, Failure

How = Literal["connector", "manual_task", "confirmation"]


def credential_revoked_event(
    *,
    target: tuple[str, int, str],
    agency_id: int,
    before_status: str,
    how: How,
    confirmed_by: str | None = None,
    **details,
) -> PendingEvent:
    """``credential.revoked`` for ``target``; ``details`` are the route's own facts."""
    by_person = how != "connector"
    if by_person != bool(confirmed_by):
        raise ValueError("confirmed_by names the person exactly when a person confirmed")
    after: dict[str, object] = {
        # "revoked" is the verified status; a person's word is "confirmed".
        "status": "confirmed" if by_person else "revoked",
        "verified": not by_person,
        "how": how,
        "by": "person" if by_person else "engine",
    }
    if by_person:
        after["confirmed_by"] = confirmed_by
    return PendingEvent(
        action="credential.revoked",
        target=target,
        agency_id=agency_id,
        before={"status": before_status},
        after={**after, **details},
    )


def batch_outcome_events(
    rows: list[Credential],
    decided: Classified,
    *,
    system: System,
    notes: dict[int, str] | None = None,
) -> list[PendingEvent]:
    """Per row, in claim order: revoked, or the failed attempt (and the failure)."""
    revoked = set(decided.revoked)
    failures = {f.pk: f for f in decided.failures}
    events: list[PendingEvent] = []
    # The rows revoked on the same try without a note have the same event but for its
    # target: built once, its before/after shared (the audit encodes each object once).
    shared: dict[int, PendingEvent] = {}
    for row in rows:
        if row.pk in revoked:
            note = notes.get(row.pk) if notes else None
            first = shared.get(row.attempts) if note is None else None
            if first is not None:
                target = credential_target(row)
                events.append(
                    PendingEvent(first.action, target, first.agency_id, first.before, first.after)
                )
                continue
            event = credential_revoked_event(
                target=credential_target(row),
                agency_id=system.agency_id,
                before_status="pending",
                how="connector",
                connector=system.kind,
                attempt=row.attempts,
                **({"note": note} if note is not None else {}),
            )
            if note is None:
                shared[row.attempts] = event
            events.append(event)
        elif row.pk in failures:
            events += _failure_events(row, failures[row.pk], system=system)
    return events


def attempt_failed_event(
    row: Credential, *, system: System, outcome: str, error: str, permanent: bool, **details
) -> PendingEvent:
    """``credential.revocation_attempt_failed`` for ``row``'s try on ``system``; ``details``
    are the route's own facts (an abandoned try names its worker)."""
    return PendingEvent(
        action="credential.revocation_attempt_failed",
        target=credential_target(row),
        agency_id=system.agency_id,
        after={
            "connector": system.kind,
            "attempt": row.attempts,
            "outcome": outcome,
            "error": error,
            "permanent": permanent,
            **details,
        },
    )


def _failure_events(row: Credential, failure: Failure, *, system: System) -> list[PendingEvent]:
    events = [
        attempt_failed_event(
            row,
            system=system,
            outcome=failure.outcome,
            error=failure.message,
            permanent=failure.permanent,
        )
    ]
    if failure.final:
        events.append(
            PendingEvent(
                action="credential.revocation_failed",
                target=credential_target(row),
                agency_id=system.agency_id,
                before={"status": "pending"},
                after={
                    "status": "failed",
                    "error": failure.message,
                    "attempts": row.attempts,
                    "permanent": failure.permanent,
                },
            )
        )
    return events
