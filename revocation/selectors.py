"""Reads for the revocation engine, through the agency permission helper.

``kill_switch_preview`` and ``vendor_revocation_history`` are the exceptions: they
take a vendor their caller has already fetched through that helper (or an operator
at the shell).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from access.models import Credential, System
from revocation.constants import REVOCABLE
from revocation.models import ManualTask, RevocationAttempt, TargetState
from vendors.models import Vendor
from vendors.permissions import VIEW, VIEW_AUDIT, agencies_for, agency_id_of, restrict

# What someone without the audit permission reads where a connector's error would be.
CONNECTOR_ERROR_HIDDEN = "Could not revoke; security staff have the details."
# What a failed attempt's outcome says without the target's own words (for the same
# readers): enough to tell "the target refused" from "it never answered".
_FAILURE_SUMMARIES: dict[str, str] = {
    RevocationAttempt.Outcome.VERIFY_FAILED: "Revoked, but the target still accepts it",
    RevocationAttempt.Outcome.DEFERRED: "The target did not answer",
    RevocationAttempt.Outcome.ABANDONED: "A worker was lost during the revocation",
}


def failure_summary(outcome: str | None, *, permanent: bool = False) -> str:
    """A failed revocation's last attempt in plain words, without the connector's error
    (which may quote the target): for readers who may not see that error."""
    if not outcome:
        return "Failed before any attempt was recorded; security staff have the details."
    if outcome in _FAILURE_SUMMARIES:
        said = _FAILURE_SUMMARIES[outcome]
    elif permanent:
        said = "The target refused the revocation; retrying cannot help"
    else:
        said = "The target did not complete the revocation after every retry"
    return f"{said}; security staff have the details."


def access_due_at(requested_at: datetime | None, contracts_end: datetime | None) -> datetime | None:
    """When access was due to end: the latest end of the credential's contracts when that
    came first (contract ended), else when revocation was requested (kill switch, a
    person, a review); None when neither is known."""
    candidates = [t for t in (requested_at, contracts_end) if t is not None]
    return min(candidates) if candidates else None


def kill_switch_preview(*, vendor: Vendor) -> QuerySet[Credential]:
    """The credentials ``vendor_kill_switch`` would move to pending right now."""
    return (
        Credential.objects.filter(vendor=vendor, status__in=REVOCABLE)
        .select_related("system")
        .order_by("system__name", "external_id")
    )


def _credentials(user, perm: str) -> QuerySet[Credential]:
    return restrict(Credential.objects.all(), user, perm).select_related(
        "vendor", "system", "system__agency"
    )


def pending_credentials(*, user, perm: str = VIEW) -> QuerySet[Credential]:
    """Credentials waiting for revocation (queued, retrying, or with a person)."""
    return (
        _credentials(user, perm)
        .filter(status=Credential.Status.PENDING)
        .order_by("revocation_requested_at", "pk")
    )


def failed_credentials(*, user, perm: str = VIEW) -> QuerySet[Credential]:
    """Credentials the engine gave up on: still live on the target until a person acts."""
    return (
        _credentials(user, perm)
        .filter(status=Credential.Status.FAILED)
        .order_by("-updated_at", "pk")
    )


def manual_tasks(*, user, perm: str = VIEW, status: str | None = ManualTask.Status.OPEN):
    """Manual tasks in the user's agencies; open ones by default, oldest first."""
    qs = restrict(ManualTask.objects.all(), user, perm).select_related(
        "credential", "credential__vendor", "system", "system__agency"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("opened_at", "pk")


def open_manual_tasks(*, user, perm: str = VIEW) -> QuerySet[ManualTask]:
    return manual_tasks(user=user, perm=perm, status=ManualTask.Status.OPEN)


def open_manual_task(credential: Credential) -> ManualTask | None:
    """The credential's open manual task, if a person must act (a credential fetched
    through a selector)."""
    return (
        credential.manual_tasks.filter(status=ManualTask.Status.OPEN).order_by("-opened_at").first()
    )


def revocation_attempts(*, user, credential: Credential | None = None, perm: str = VIEW):
    """Attempts on credentials the user may see, newest first."""
    qs = restrict(RevocationAttempt.objects.all(), user, perm)
    if credential is not None:
        qs = qs.filter(credential=credential)
    return qs.select_related("system").order_by("-started_at", "-pk")


def vendor_revocation_history(vendor: Vendor) -> QuerySet[RevocationAttempt]:
    """Attempts on the vendor's credentials, newest first (a vendor already fetched as
    above); the page shows it a page at a time."""
    return (
        RevocationAttempt.objects.filter(credential__vendor=vendor)
        .select_related("credential", "system")
        .order_by("-started_at", "-pk")
    )


def connector_error_readers(user) -> frozenset[int]:
    """Ids of the agencies whose connector errors ``user`` may read (VIEW_AUDIT).

    A connector's error carries the target's own words (its refusal, what it said
    about an account, which names it holds): security staff and auditors need them,
    procurement does not, and the API shows attempts only to VIEW_AUDIT. One query;
    compute it once per page or response and pass it to ``connector_error_shown``.
    """
    return frozenset(agencies_for(user, VIEW_AUDIT).values_list("pk", flat=True))


def connector_error_shown(
    text: str, *, obj, readers: frozenset[int], summary: str | None = None
) -> str:
    """``text`` (an error stored on ``obj`` or its row) as this reader may see it; others
    read ``summary`` (what the error means, in the engine's words) or a neutral label."""
    if not text:
        return summary or ""
    return text if agency_id_of(obj) in readers else (summary or CONNECTOR_ERROR_HIDDEN)


# Target outages (revocation.services.breaker) --------------------------------------


@dataclass(frozen=True)
class Outage:
    """A system whose target stopped answering, as one reader may see it."""

    system: System
    since: datetime
    error: str  # the last refusal or timeout, or CONNECTOR_ERROR_HIDDEN
    next_probe_at: datetime | None
    failed_probes: int
    deferred_batches: int
    waiting: int  # its pending credentials: they wait for the target, none fails


def target_outages(
    *, user, readers: frozenset[int], system: System | None = None, perm: str = VIEW
) -> list[Outage]:
    """Open outages of the systems ``user`` may see (or of ``system``), longest first.

    ``readers`` (``connector_error_readers``) decides who reads the target's own words.
    Two queries whatever the number of outages.
    """
    systems = restrict(System.objects.all(), user, perm).filter(
        target_state__outage_since__isnull=False
    )
    if system is not None:
        systems = systems.filter(pk=system.pk)
    rows = list(
        systems.select_related("target_state", "agency").order_by(
            "target_state__outage_since", "pk"
        )
    )
    if not rows:
        return []
    waiting = dict(
        Credential.objects.filter(
            system_id__in=[row.pk for row in rows], status=Credential.Status.PENDING
        )
        .values("system_id")
        .annotate(n=Count("pk"))
        .values_list("system_id", "n")
        .order_by()
    )
    return [outage_of(row, readers=readers, waiting=waiting.get(row.pk, 0)) for row in rows]


def outage_of(system: System, *, readers: frozenset[int], waiting: int) -> Outage:
    state: TargetState = system.target_state
    assert state.outage_since is not None
    return Outage(
        system=system,
        since=state.outage_since,
        error=connector_error_shown(state.outage_error, obj=system, readers=readers),
        next_probe_at=state.next_probe_at,
        failed_probes=state.probes,
        deferred_batches=state.deferred_batches,
        waiting=waiting,
    )
