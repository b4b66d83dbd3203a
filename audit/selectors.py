"""Reading and verifying the audit chain; the trail as agency users may read it."""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from guardian.models import UserObjectPermission

from audit.chain_check import chain_check
from audit.chain_chunks import TILE
from audit.models import ActorType, AuditEvent, Checkpoint, VerificationRun
from vendors.models import Agency, Vendor
from vendors.permissions import VIEW, VIEW_AUDIT, agencies_for, restrict


@dataclass
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    message: str = ""


def audit_chain_verify(
    *,
    workers: int = 1,
    chunk_events: int | None = None,
    leaves: bytearray | None = None,
    tiles: list[bytes] | None = None,
) -> ChainReport:
    """Recompute every hash in seq order; report the first event that does not fit.

    Catches an altered row (hash mismatch), a removed row (seq gap or broken
    link), swapped rows, and a truncated tail (head no longer matches). With
    ``leaves``, also appends every row's RFC 6962 leaf hash to it (in table order,
    past any problem) for the tree and checkpoint checks of ``audit.verification``.
    With ``workers`` > 1, chunks of ``chunk_events`` (default
    ``chain_check.CHUNK_EVENTS``) are checked by that many processes (PostgreSQL;
    committed events only), see ``audit.chain_check``. ``tiles`` receives the roots of
    the complete Merkle tiles over ``leaves`` when the chunks could hash them (every
    seq in place), else stays empty.
    """
    state, head = chain_check(workers=workers, chunk_events=chunk_events, leaves=leaves)
    whole = leaves is not None and len(state.tiles or ()) == len(leaves) // 32 // TILE
    if tiles is not None and state.tiles and whole:
        tiles.extend(state.tiles)
    checked = state.checked
    if state.problem is not None:
        return ChainReport(False, checked, *state.problem)
    if head is None:
        if checked == 0:
            return ChainReport(True, 0, None, "the chain is empty")
        return ChainReport(False, checked, 1, "chain head is missing")
    head_seq, head_hash = head
    if head_seq != checked or head_hash != state.prev_hash:
        return ChainReport(
            False,
            checked,
            # Past a rewound head, the first event the head no longer covers is bad.
            min(head_seq, checked) + 1,
            f"chain head says seq {head_seq} but the table ends at seq {checked}",
        )
    return ChainReport(True, checked, None, f"{checked} events verified")


def checkpoint_latest() -> Checkpoint | None:
    """The newest signed checkpoint (for /readyz: is the last one young enough?)."""
    return Checkpoint.objects.order_by("-created_at", "-id").first()


def audit_event_list(*, user, perm: str = VIEW_AUDIT) -> QuerySet[AuditEvent]:
    """Events of the agencies where ``user`` holds ``perm`` (system events have none)."""
    return restrict(AuditEvent.objects.all(), user, perm)


def audit_trail_list(*, user) -> QuerySet[AuditEvent]:
    """The audit page's events: the agencies' where ``user`` holds VIEW_AUDIT, and the
    deployment-wide ones (no agency) about the people of those agencies.

    Sign-ins, sign-outs, second factors, lockouts and chain checks belong to no agency,
    yet they take seq numbers; an auditor who never sees them reads the gaps as
    deletions. Each is shown to the auditors of the agencies where its person (the
    actor, or the user it is about, failed sign-ins by user name) holds a role, so no
    auditor learns who signs in elsewhere. Events about nobody in particular (a sign-in
    attempt for an unknown name, a refused API token) are for superusers, who see all.
    """
    if user.is_active and user.is_superuser:
        return AuditEvent.objects.all()
    agencies = agencies_for(user, VIEW_AUDIT)
    # Who holds a role in those agencies (every role includes VIEW); guardian keeps
    # object ids as text.
    members = UserObjectPermission.objects.filter(
        content_type=ContentType.objects.get_for_model(Agency),
        permission__codename=VIEW.removeprefix("vendors."),
        object_pk__in=_ids_as_text(agencies),
    )
    member_ids = members.annotate(t=Cast("user_id", CharField())).values("t")
    User = get_user_model()
    member_names = User._default_manager.filter(pk__in=members.values("user_id"))
    about_members = (
        Q(actor_type=ActorType.USER, actor_id__in=member_ids)
        | Q(target_type="auth.user", target_id__in=member_ids)
        | Q(
            target_type="auth.user",
            target_id="",
            target_repr__in=member_names.values(User.USERNAME_FIELD),
        )
    )
    return AuditEvent.objects.filter(
        Q(agency_id__in=agencies.values("pk")) | (Q(agency_id__isnull=True) & about_members)
    )


def audit_event_lookup(*, user) -> QuerySet[AuditEvent]:
    """Where the API looks up one event by seq: events of the agencies where ``user``
    holds VIEW (one of their own agency's without VIEW_AUDIT is then forbidden, not
    missing, as for every resource) and the deployment-wide events ``audit_trail_list``
    shows them (which already needs VIEW_AUDIT in an agency of the person concerned)."""
    return audit_event_list(user=user, perm=VIEW) | audit_trail_list(user=user).filter(
        agency_id__isnull=True
    )


def audit_search(
    *,
    user,
    q: str = "",
    action: str = "",
    actor: str = "",
    agency: Agency | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """The dashboard's audit log: newest first, narrowed by the filter form's fields."""
    qs = audit_trail_list(user=user)
    if q:
        qs = qs.filter(
            Q(action__icontains=q)
            | Q(target_repr__icontains=q)
            | Q(actor_name__icontains=q)
            | Q(request_id=q)
        )
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_name__icontains=actor)
    if agency is not None:
        qs = qs.filter(agency_id=agency.pk)
    if date_from:
        qs = qs.filter(occurred_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(occurred_at__date__lte=date_to)
    return qs.order_by("-seq")


def _ids_as_text(queryset: QuerySet) -> QuerySet:
    # AuditEvent.target_id is text (targets of any type), so compare with text ids.
    return queryset.annotate(t=Cast("pk", CharField())).values("t")


def vendor_audit_trail(*, user, vendor: Vendor, limit: int = 50) -> QuerySet[AuditEvent]:
    """Events about the vendor, its contracts and its credentials (auditors' view)."""
    return (
        audit_event_list(user=user)
        .filter(
            Q(target_type="vendors.vendor", target_id=str(vendor.pk))
            | Q(target_type="vendors.contract", target_id__in=_ids_as_text(vendor.contracts.all()))
            | Q(
                target_type="access.credential",
                target_id__in=_ids_as_text(vendor.credentials.all()),
            ),
            agency_id=vendor.agency_id,
        )
        .order_by("-seq")[:limit]
    )


def verification_run_latest() -> VerificationRun | None:
    """The last chain verification started (from the dashboard, the CLI or the schedule)."""
    return VerificationRun.objects.order_by("-started_at").first()
