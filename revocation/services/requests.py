"""Requests: active (or failed) -> pending, by a person, the kill switch or the sweep."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now

from access.models import Credential
from audit.actor import Actor
from audit.services import PendingEvent, audit_record, audit_record_many
from config.modeling import free_text
from revocation.constants import REVOCABLE
from revocation.services.common import credential_target_of, in_ids, row_guard
from revocation.services.dispatch import dispatch_on_commit
from vendors.models import Vendor
from vendors.services import vendor_set_status


def request_revocation(
    *,
    actor: Actor,
    queryset: QuerySet[Credential],
    reason: str,
    trigger: str,
    skip_locked: bool = False,
    extra: dict | None = None,
    statuses: tuple[str, ...] = REVOCABLE,
) -> list[int]:
    """Move the revocable credentials of ``queryset`` to pending; must run in a transaction.

    Returns the ids moved. Rows are locked first so a concurrent request (a second
    sweep, a kill switch) either waits and then sees them pending, or, with
    ``skip_locked``, leaves them to whoever holds them. Either way each credential
    gets one request event.
    """
    rows = list(
        queryset.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(row_guard(Q(status__in=statuses)))
        .order_by("pk")
        .values_list("pk", "external_id", "kind", "status", "system_id", "system__agency_id")
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    Credential.objects.filter(in_ids("pk", ids)).update(
        status=Credential.Status.PENDING,
        revocation_requested_at=Now(),
        revocation_reason=reason,
        revocation_requested_by=actor.name[:200],
        next_attempt_at=Now(),
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        last_error="",
        updated_at=Now(),
    )
    after = {"status": "pending", "reason": reason, "trigger": trigger, **(extra or {})}
    # One before per status, shared like the after: the audit encodes each object once.
    befores = {status: {"status": status} for status in {row[3] for row in rows}}
    audit_record_many(
        actor=actor,
        events=[
            PendingEvent(
                "credential.revocation_requested",
                credential_target_of(pk, external_id, kind),
                agency_id,
                befores[status],
                after,
            )
            for pk, external_id, kind, status, _system_id, agency_id in rows
        ],
    )
    dispatch_on_commit(row[4] for row in rows)
    return ids


def credential_revoke(*, actor: Actor, credential: Credential, reason: str) -> Credential:
    """Revoke one credential now (active or failed -> pending; dispatched on commit)."""
    reason = free_text("reason", reason, required="Say why the credential is revoked.")
    with transaction.atomic():
        current = Credential.objects.select_for_update().get(pk=credential.pk)
        if current.status not in REVOCABLE:
            return current  # already pending or revoked: nothing more to do
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk=credential.pk),
            reason=reason,
            trigger="manual_revoke",
        )
    return Credential.objects.get(pk=credential.pk)


def vendor_kill_switch(*, actor: Actor, vendor: Vendor, reason: str) -> list[Credential]:
    """Revoke every active or failed credential of ``vendor`` now and suspend the vendor."""
    reason = free_text("reason", reason, required="Say why the kill switch is used.")
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        ids = request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(vendor=vendor),
            reason=reason,
            trigger="kill_switch",
        )
        before_status = vendor.status
        # Suspended, not offboarding: the kill switch is an emergency stop, and a
        # suspended vendor is what the dashboard flags for follow-up. The status
        # change is the vendor app's own audited write; the kill switch event below
        # records why and which credentials it queued.
        vendor_set_status(actor=actor, vendor=vendor, status=Vendor.Status.SUSPENDED, reason=reason)
        audit_record(
            actor=actor,
            action="vendor.kill_switch",
            target=vendor,
            agency_id=vendor.agency_id,
            before={"status": before_status},
            after={
                "status": Vendor.Status.SUSPENDED,
                "reason": reason,
                "credentials": ids,
            },
        )
    return list(Credential.objects.filter(pk__in=ids).order_by("pk"))
