"""Metrics of a recorded batch (ops.metrics), counted only once its transaction commits.

Latency is measured from the moment access was due to end: the latest end of the
credential's contracts when that came first (contract ended), otherwise the time
revocation was requested (kill switch, manual revoke, review), to the database time
the verified outcome was written.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max

from access.models import Credential, System
from revocation.models import RevocationAttempt
from revocation.selectors import access_due_at
from revocation.services.common import in_ids
from revocation.services.outcomes import Classified

Outcome = RevocationAttempt.Outcome


def _error_kind(outcome: str, permanent: bool) -> str:
    if outcome == Outcome.VERIFY_FAILED:
        return "verify_failed"
    return "permanent" if permanent else "transient"


def batch_observe_on_commit(
    *, system: System, rows: list[Credential], decided: Classified, now: datetime
) -> None:
    """Count the batch's outcomes after commit: a rolled-back batch counts nothing."""
    kind = system.kind
    by_pk = {row.pk: row for row in rows}
    due: dict[int, datetime] = {}
    if decided.revoked:
        # From the link table by credential id: the rows' own few links, not a join
        # that starts from every contract.
        ends = dict(
            Credential.contracts.through.objects.filter(in_ids("credential_id", decided.revoked))
            .values("credential_id")
            .annotate(end=Max("contract__access_ends_at"))
            # The stubs do not see annotations on an auto-created through model.
            .values_list("credential_id", "end")  # type: ignore[misc]
        )
        for pk in decided.revoked:
            when = access_due_at(by_pk[pk].revocation_requested_at, ends.get(pk))
            if when is not None:
                due[pk] = when
    failures = [(f.outcome, f.permanent, f.final) for f in decided.failures]
    revoked, handed_off = len(decided.revoked), len(decided.handed_off)

    def count() -> None:
        from ops import metrics

        latency = metrics.REVOCATION_LATENCY.labels(kind)  # once a batch, not once a row
        for started in due.values():
            latency.observe(max(0.0, (now - started).total_seconds()))
        if revoked:
            metrics.REVOCATION_ATTEMPTS.labels(kind, Outcome.SUCCESS).inc(revoked)
        if handed_off:
            metrics.REVOCATION_ATTEMPTS.labels(kind, Outcome.HANDED_OFF).inc(handed_off)
        for outcome, permanent, final in failures:
            metrics.REVOCATION_ATTEMPTS.labels(kind, outcome).inc()
            metrics.CONNECTOR_ERRORS.labels(kind, _error_kind(outcome, permanent)).inc()
            (metrics.REVOCATION_FAILED if final else metrics.REVOCATION_RETRIES).labels(kind).inc()

    transaction.on_commit(count)


def abandoned_observe_on_commit(*, kind: str, n: int) -> None:
    def count() -> None:
        from ops import metrics

        metrics.REVOCATION_ATTEMPTS.labels(kind, Outcome.ABANDONED).inc(n)

    transaction.on_commit(count)
