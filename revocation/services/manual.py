"""What people do by hand: manual tasks (opened, settled, completed) and confirmations.

These are the only ways a credential leaves the queue without a verified read of
the target: it becomes ``confirmed`` (never ``revoked``, which means verified), and
its ``credential.revoked`` event says who confirmed (events.py).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from access.models import Credential, System
from audit.actor import Actor
from audit.services import PendingEvent, audit_record_many
from config.modeling import free_text
from revocation.models import ManualTask
from revocation.services.common import (
    credential_target,
    group_by_value,
    in_ids,
    manual_task_target,
    owner_user_email,
    row_guard,
    worker_actor,
)
from revocation.services.events import credential_revoked_event

# Statuses that need nothing more: verified by the engine, or confirmed by a person.
DONE = (Credential.Status.REVOKED, Credential.Status.CONFIRMED)


def manual_task_complete(*, actor: Actor, task: ManualTask, note: str) -> ManualTask:
    """A person confirms they revoked the credential by hand."""
    note = free_text("note", note, required="Say what you did to revoke the access.")
    with transaction.atomic():
        # Credential before task, the order the batch locks them in: the other
        # order deadlocks with a worker settling the same task.
        credential = Credential.objects.select_for_update().get(
            pk=ManualTask.objects.values_list("credential_id", flat=True).get(pk=task.pk)
        )
        task = ManualTask.objects.select_for_update().select_related("system").get(pk=task.pk)
        if task.status == ManualTask.Status.DONE:
            return task
        events = []
        if credential.status not in DONE:
            before = credential.status
            Credential.objects.filter(pk=credential.pk).update(
                # A person's word, not a read of the target: its own status.
                status=Credential.Status.CONFIRMED,
                revoked_at=Now(),
                revoked_by=actor.name[:200],
                lease_owner="",
                lease_expires_at=None,
                next_attempt_at=None,
                updated_at=Now(),
            )
            events.append(
                credential_revoked_event(
                    target=credential_target(credential),
                    agency_id=task.system.agency_id,
                    before_status=before,
                    how="manual_task",
                    confirmed_by=actor.name,
                    manual_task=task.pk,
                    note=note,
                )
            )
        ManualTask.objects.filter(pk=task.pk).update(
            status=ManualTask.Status.DONE,
            completed_at=Now(),
            completed_by=actor.name[:200],
            note=note,
        )
        events.append(
            PendingEvent(
                action="manual_task.completed",
                target=manual_task_target(task.pk),
                agency_id=task.system.agency_id,
                before={"status": "open"},
                after={"status": "done", "credential": credential.pk, "note": note},
            )
        )
        audit_record_many(actor=actor, events=events)
    return ManualTask.objects.get(pk=task.pk)


def credential_confirm_revoked(*, actor: Actor, credential: Credential, reason: str) -> Credential:
    """A person records that an active credential is already gone from its target
    (found during a review, or the account was removed by hand).

    Every other status change is the engine's: requesting a revocation, retrying,
    failing, and completing a manual task. Nothing here can move a credential back
    to active.
    """
    reason = free_text("reason", reason, required="Say how you know the access is gone.")
    with transaction.atomic():
        credential = (
            Credential.objects.select_for_update().select_related("system").get(pk=credential.pk)
        )
        if credential.status in DONE:
            return credential
        if credential.status != Credential.Status.ACTIVE:
            raise ValidationError(
                {
                    "status": "This credential is in the revocation queue; complete its "
                    "manual task or let the engine finish."
                }
            )
        credential.status = Credential.Status.CONFIRMED
        credential.revoked_at = timezone.now()
        credential.revoked_by = actor.name[:200]
        credential.revocation_reason = reason
        credential.save(
            update_fields=["status", "revoked_at", "revoked_by", "revocation_reason", "updated_at"]
        )
        event = credential_revoked_event(
            target=credential_target(credential),
            agency_id=credential.system.agency_id,
            before_status=Credential.Status.ACTIVE,
            how="confirmation",
            confirmed_by=actor.name,
            reason=reason,
        )
        audit_record_many(actor=actor, events=[event])
    return credential


def open_manual_tasks(
    tasks: list[ManualTask],
    *,
    by_pk: dict[int, Credential],
    system: System,
    events: list[PendingEvent],
) -> None:
    """Open the batch's manual tasks (failed, or a manual system), one per credential.

    Appends their ``manual_task.opened`` events to ``events``; the caller records them
    in its transaction.
    """
    already_open = dict(
        ManualTask.objects.filter(
            in_ids("credential_id", [t.credential_id for t in tasks]),
            status=ManualTask.Status.OPEN,
        ).values_list("credential_id", "pk")
    )
    # Failed again after a new request: the open task keeps the latest error, as
    # its detail promises, rather than the one from the first failure.
    latest = {
        already_open[t.credential_id]: t.detail
        for t in tasks
        if t.credential_id in already_open and t.detail
    }
    for detail, pks in group_by_value(latest).items():
        ManualTask.objects.filter(pk__in=pks).update(detail=detail)
    new = [t for t in tasks if t.credential_id not in already_open]
    ManualTask.objects.bulk_create(new)
    for task in new:
        events.append(
            PendingEvent(
                action="manual_task.opened",
                target=manual_task_target(task.pk),
                agency_id=system.agency_id,
                after={
                    "credential": task.credential_id,
                    "credential_repr": str(by_pk[task.credential_id]),
                    "reason": task.reason,
                    "owner_email": system.owner_email or owner_user_email(system),
                },
            )
        )


def settle_manual_tasks(
    *, credential_ids: list[int], system: System, now: datetime, events: list[PendingEvent]
) -> None:
    """Close the open tasks of credentials the engine has now revoked and verified.

    Audited like a person's confirmation (``manual_task.completed``) so the trail
    shows who closed each; the events go to ``events`` for the caller to record.
    """
    note = "Revoked and verified automatically."
    # Found from the open tasks (a few, through their partial index), each checked
    # against the batch's ids: looked up by the 1,000 ids instead, it probed the
    # credential index 1,000 times a batch for tasks that are almost never there.
    settled = list(
        ManualTask.objects.select_for_update()
        .filter(status=ManualTask.Status.OPEN)
        .filter(row_guard(in_ids("credential_id", credential_ids)))
        .order_by("pk")
        .values_list("pk", "credential_id")
    )
    if not settled:
        return
    ManualTask.objects.filter(pk__in=[pk for pk, _ in settled]).update(
        status=ManualTask.Status.DONE,
        completed_at=now,
        completed_by=worker_actor().name,
        note=note,
    )
    events += [
        PendingEvent(
            action="manual_task.completed",
            target=manual_task_target(pk),
            agency_id=system.agency_id,
            after={"status": "done", "credential": credential_id, "note": note},
            before={"status": "open"},
        )
        for pk, credential_id in settled
    ]
