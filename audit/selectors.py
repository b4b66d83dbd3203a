"""Reading and verifying the audit chain; the trail as agency users may read it."""

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from guardian.models import UserObjectPermission

from audit.hashing import COLUMNS, GENESIS_HASH, KNOWN_VERSIONS, canonical
from audit.models import ActorType, AuditEvent, ChainHead, Checkpoint, VerificationRun
from vendors.models import Agency, Vendor
from vendors.permissions import VIEW, VIEW_AUDIT, agencies_for, restrict


@dataclass
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    message: str = ""


# Stands in for the leaf of an event whose hash version is unknown: it cannot match.
_UNKNOWN_LEAF = b"\xff" * 32


def audit_chain_verify(*, chunk_size: int = 5000, leaves: bytearray | None = None) -> ChainReport:
    """Recompute every hash in seq order; report the first event that does not fit.

    Catches an altered row (hash mismatch), a removed row (seq gap or broken
    link), swapped rows, and a truncated tail (head no longer matches). With
    ``leaves``, also appends every row's RFC 6962 leaf hash to it (in table order,
    past any problem) for the tree and checkpoint checks of ``audit.verification``.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    first: ChainReport | None = None
    sha256 = hashlib.sha256
    rows = AuditEvent.objects.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=chunk_size)
    for values in rows:
        record = dict(zip(COLUMNS, values, strict=True))
        seq = record["seq"]
        problem = None
        data = None
        if record["hash_version"] in KNOWN_VERSIONS:
            data = canonical(record, record["prev_hash"], record["hash_version"])
        if leaves is not None:
            leaves += sha256(b"\x00" + data).digest() if data is not None else _UNKNOWN_LEAF
        if first is not None:
            continue
        if seq != expected_seq:
            problem = (expected_seq, f"seq {expected_seq} is missing (next is {seq})")
        elif record["prev_hash"] != prev_hash:
            problem = (seq, f"seq {seq} does not link to seq {seq - 1}")
        elif data is None:
            problem = (
                seq,
                f"seq {seq} has unknown hash version {record['hash_version']} "
                "(forged, or written by a newer Sundown)",
            )
        elif sha256(data).hexdigest() != record["hash"]:
            problem = (seq, f"seq {seq} was altered (hash mismatch)")
        if problem:
            first = ChainReport(False, checked, *problem)
            if leaves is None:
                return first
            continue
        prev_hash = record["hash"]
        expected_seq += 1
        checked += 1
    if first is not None:
        return first
    head = ChainHead.objects.filter(pk=1).first()
    if head is None:
        if checked == 0:
            return ChainReport(True, 0, None, "the chain is empty")
        return ChainReport(False, checked, 1, "chain head is missing")
    if head.seq != checked or head.hash != prev_hash:
        return ChainReport(
            False,
            checked,
            # Past a rewound head, the first event the head no longer covers is bad.
            min(head.seq, checked) + 1,
            f"chain head says seq {head.seq} but the table ends at seq {checked}",
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
