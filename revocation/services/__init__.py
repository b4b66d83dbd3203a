"""Writes of the revocation engine, one module per topic.

State machine (see DESIGN.md): active -> pending -> revoked, pending -> failed ->
manual task. Every transition writes its audit events in the same transaction.
The database is the source of truth and its clock decides; Celery only delivers
ids (revocation.tasks), so a lost, duplicated or replayed message changes nothing.

- requests.py   active/failed -> pending: a person, the kill switch (and the sweep)
- dispatch.py   enqueue batch tasks, on commit
- leases.py     claim a batch under a lease; record attempts of dead workers
- batch.py      call the connector and record the batch in one transaction
- outcomes.py   the pure step: which claimed row ends how
- events.py     the batch's audit events; the one builder of ``credential.revoked``
- attempts.py   the attempt rows
- presence.py   is the account on the target? (registration check)
- connection.py test a system's connection (read-only, audited)
- manual.py     manual tasks and a person's confirmation that access is gone
- alerts.py     failure and hand-off mail
- sweep.py      the periodic sweep
- notices.py    contract expiry notices

Callers import from here (``from revocation import services``); the topic modules
are the place to read and change the code.
"""

from revocation.constants import NOTICE_DAYS, REVOCABLE
from revocation.services.alerts import security_alert_recipients
from revocation.services.batch import BatchResult, max_attempts, retry_delay, revocation_batch_run
from revocation.services.common import db_now, worker_actor, worker_identity
from revocation.services.dispatch import revocation_dispatch_due
from revocation.services.manual import credential_confirm_revoked, manual_task_complete
from revocation.services.notices import expiry_notices_send
from revocation.services.outcomes import Classified, ConnectorReport, classify
from revocation.services.presence import credential_target_check, credential_target_check_on_commit
from revocation.services.requests import credential_revoke, vendor_kill_switch
from revocation.services.sweep import SWEEP_LOCK_KEY, SweepResult, revocation_sweep

__all__ = [
    "NOTICE_DAYS",
    "REVOCABLE",
    "SWEEP_LOCK_KEY",
    "BatchResult",
    "Classified",
    "ConnectorReport",
    "SweepResult",
    "classify",
    "credential_confirm_revoked",
    "credential_revoke",
    "credential_target_check",
    "credential_target_check_on_commit",
    "db_now",
    "expiry_notices_send",
    "manual_task_complete",
    "max_attempts",
    "retry_delay",
    "revocation_batch_run",
    "revocation_dispatch_due",
    "revocation_sweep",
    "security_alert_recipients",
    "vendor_kill_switch",
    "worker_actor",
    "worker_identity",
]
