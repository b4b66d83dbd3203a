"""Is the account there? The read that gives "verified" its meaning.

A credential is revoked (verified) only for an account the target showed at some
point: a batch reads presence before revoking (batch.py), and registering a
credential checks the target once, after commit, and records when the account was
last seen. An identifier never seen is reported, not counted as already gone.
"""

from __future__ import annotations

import logging

from django.db import transaction

from access.models import Credential
from audit.services import PendingEvent, audit_record_many
from revocation.connectors.base import ConnectorError, connector_for
from revocation.services.common import credential_target, db_now, worker_actor

logger = logging.getLogger(__name__)


def credential_target_check_on_commit(credential_id: int) -> None:
    """Ask a worker to check the target for this credential once the caller commits."""

    def send():
        from revocation.tasks import credential_target_check_task

        try:
            credential_target_check_task.delay(credential_id)
        except Exception:  # broker down: the first revocation reads presence anyway
            logger.exception("could not enqueue the target check of credential %s", credential_id)

    transaction.on_commit(send)


def credential_target_check(*, credential_id: int) -> bool | None:
    """Read the target for one credential; record when it was seen there.

    Returns True (seen), False (the target does not show it) or None (the target
    could not be read, or cannot be read at all: manual systems). Audited as
    ``credential.target_checked`` with what the target said.
    """
    credential = Credential.objects.select_related("system").filter(pk=credential_id).first()
    if credential is None:
        return None
    try:
        with connector_for(credential.system) as connector:
            if not connector.verifies:
                return None
            missing = connector.missing([credential])
    except ConnectorError as exc:
        logger.info("target check of credential %s: %s", credential_id, exc.message)
        return None
    found = credential.pk not in missing
    after: dict = {"found": found}
    if not found:
        after["close_matches"] = missing[credential.pk]
    with transaction.atomic():
        now = db_now()
        fields = {"target_checked_at": now}
        if found:
            fields["last_seen_on_target_at"] = now
        Credential.objects.filter(pk=credential.pk).update(**fields)
        audit_record_many(
            actor=worker_actor(),
            events=[
                PendingEvent(
                    action="credential.target_checked",
                    target=credential_target(credential),
                    agency_id=credential.system.agency_id,
                    after=after,
                )
            ],
        )
    return found
