"""A credential revoked while a reconciliation pass reads the target is not drift.

The pass reads the target first and the registry after. A revocation committed in
between used to be judged against what the target said just before it: "revoked, yet
active on the target", a false critical finding and a second revocation with its own
events (one credential, two revoked events). Here a real htpasswd target is read while
the credential is revoked in the middle of that read.
"""

import pytest
from django.utils import timezone

from access.models import Credential
from audit.models import AuditEvent
from findings.models import Finding
from findings.reconciliation import reconciliation_request, reconciliation_run
from revocation.connectors.htpasswd import HtpasswdConnector
from tests.revocation.connectors.servers import credentials
from tests.revocation.connectors.test_reconcile_targets import OFFICER

pytestmark = pytest.mark.django_db


def reconcile(system):
    run, _ = reconciliation_request(actor=OFFICER, system=system, trigger="manual", enqueue=False)
    return reconciliation_run(run_id=run.pk)


def revoke_in_the_registry(credential):
    """What the engine's outcome writes once it has verified the revocation."""
    Credential.objects.filter(pk=credential.pk).update(
        status=Credential.Status.REVOKED, revoked_at=timezone.now()
    )


def test_revoked_while_the_target_is_read_is_judged_by_the_next_pass(
    htpasswd_system, htpasswd_file, monkeypatch
):
    system = htpasswd_system()
    name = htpasswd_file.add_user()
    (credential,) = credentials(system, [name])
    listing = HtpasswdConnector.list_accounts

    def list_then_revoke(self):
        accounts = listing(self)  # the vendor's account is still enabled here
        revoke_in_the_registry(credential)  # and the engine's revocation commits now
        return accounts

    monkeypatch.setattr(HtpasswdConnector, "list_accounts", list_then_revoke)
    run = reconcile(system)
    assert run.status == "succeeded" and run.drifted == 0
    assert not Finding.objects.filter(system=system, kind__in=["drift", "used_after_revocation"])
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REVOKED  # not sent back to pending
    assert not AuditEvent.objects.filter(
        action="credential.revocation_requested", target_id=str(credential.pk)
    )


def test_revoked_before_the_read_and_active_on_the_target_is_drift(htpasswd_system, htpasswd_file):
    # The same account, revoked in the registry before the pass: the target really
    # lets it in again, so it is drift and goes back to revocation.
    system = htpasswd_system()
    name = htpasswd_file.add_user()
    (credential,) = credentials(system, [name])
    revoke_in_the_registry(credential)
    run = reconcile(system)
    assert run.status == "succeeded" and run.drifted == 1
    assert Finding.objects.filter(system=system, kind="drift", account=name).exists()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.PENDING
