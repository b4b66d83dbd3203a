"""What a person sees while and after a revocation runs: home lists failed revocations
whatever asked for them, with how long the access has stayed open; the credential page
polls while pending and points to the manual task a person must finish."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from audit.actor import Actor
from revocation.models import ManualTask
from revocation.services import credential_revoke, revocation_batch_run

pytestmark = pytest.mark.django_db


def test_home_lists_a_failed_single_revoke_with_its_exposure(officer_client, officer, estate):
    live = estate["live"]  # its contract is still running: it is not "overdue"
    Credential.objects.filter(pk=live.pk).update(
        status=Credential.Status.FAILED,
        revocation_requested_at=timezone.now() - dt.timedelta(hours=3, minutes=5),
        revocation_reason="Kill switch: vendor breach",
        last_error="permission denied",
    )
    body = officer_client.get(reverse("home")).content.decode()
    table = body.split('data-testid="failed-revocations"')[1].split("</table>")[0]
    assert "acme_rw" in table and "acme_broken" in table
    assert "Kill switch: vendor breach" in table
    assert "3 h 5 min" in table
    assert "zeta_admin" not in body  # another agency's


def _failed_cells(body: str, pk: int) -> tuple[str, str]:
    table = body.split('data-testid="failed-revocations"')[1].split("</table>")[0]
    reason = table.split(f'data-testid="failed-reason-{pk}">')[1].split("</td>")[0]
    exposure = table.split(f'data-testid="failed-exposure-{pk}">')[1].split("</td>")[0]
    return reason, exposure


def test_a_kill_switch_that_fails_shows_its_error_and_exposure(
    officer_client, procurement_client, officer, estate, monkeypatch
):
    """Through the real engine: a system of a kind that left the registry fails at once,
    permanently. Every failed row names why (the connector's error for security staff,
    what it means for the others) and how long the access has stayed open."""
    from revocation import tasks
    from revocation.services import vendor_kill_switch

    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid: None)
    live, broken = estate["live"], estate["failed"]
    type(estate["db"]).objects.filter(pk=estate["db"].pk).update(kind="webhook")
    vendor_kill_switch(actor=Actor.for_user(officer), vendor=estate["vendor"], reason="Breach")
    Credential.objects.filter(pk=live.pk).update(
        revocation_requested_at=timezone.now() - dt.timedelta(hours=2, minutes=10)
    )
    assert live.pk in revocation_batch_run(system_id=estate["db"].pk, worker="test").failed

    reason, exposure = _failed_cells(officer_client.get(reverse("home")).content.decode(), live.pk)
    assert "no connector for systems of kind" in reason and "Revoked because: Breach" in reason
    assert "2 h 10 min" in exposure and "since the request" in exposure
    reason, _ = _failed_cells(procurement_client.get(reverse("home")).content.decode(), live.pk)
    assert "no connector" not in reason  # the target's words are for security staff
    assert "The target refused the revocation; retrying cannot help" in reason
    # The kill switch moved the factory's failed row too: it has its own attempt now.
    reason, exposure = _failed_cells(
        officer_client.get(reverse("home")).content.decode(), broken.pk
    )
    assert "no connector" in reason and "since the request" in exposure


def test_a_failed_row_without_request_or_attempt_still_says_why_and_since_when(
    officer_client, estate
):
    """Rows from before request times were kept: exposure from the last contract's end
    when it has passed, else from when the row was marked failed; never a bare dash."""
    broken, ended = estate["failed"], estate["ended"]
    body = officer_client.get(reverse("home")).content.decode()
    reason, exposure = _failed_cells(body, broken.pk)
    assert "permission denied to drop role" in reason
    assert "since it failed" in exposure and "—" not in exposure
    Credential.objects.filter(pk=broken.pk).update(last_error="")
    broken.contracts.set([ended])  # ended two days ago
    body = officer_client.get(reverse("home")).content.decode()
    reason, exposure = _failed_cells(body, broken.pk)
    assert "Failed before any attempt was recorded" in reason
    assert "2 days" in exposure and "since the contract ended" in exposure


def test_credential_page_polls_while_pending_and_links_its_manual_task(
    officer_client, officer, estate
):
    overdue = estate["overdue"]  # on a manual system: the engine hands it to a person
    credential_revoke(actor=Actor.for_user(officer), credential=overdue, reason="ended")
    url = reverse("credential_detail", args=[overdue.pk])
    body = officer_client.get(url).content.decode()
    status_url = reverse("credential_status", args=[overdue.pk])
    assert f'hx-get="{status_url}?shown=pending"' in body and 'hx-trigger="every 5s"' in body

    assert officer_client.get(status_url, {"shown": "pending"}).status_code == 204
    revocation_batch_run(system_id=overdue.system_id, worker="test")
    task = ManualTask.objects.get(credential=overdue, status=ManualTask.Status.OPEN)
    body = officer_client.get(url).content.decode()
    assert 'data-testid="manual-task"' in body
    assert f"{reverse('revocation_queue')}#tasks" in body
    assert task.get_reason_display().lower() in body

    # Once it leaves pending (a person confirms, or it fails), the page reloads.
    Credential.objects.filter(pk=overdue.pk).update(status="failed")
    changed = officer_client.get(status_url, {"shown": "pending"})
    assert changed.status_code == 200 and changed["HX-Refresh"] == "true"


def test_status_is_scoped(outsider_client, estate):
    url = reverse("credential_status", args=[estate["live"].pk])
    assert outsider_client.get(url, {"shown": "active"}).status_code == 404


def test_system_page_follows_a_reconciliation_pass(officer_client, officer, estate):
    from findings.reconciliation import reconciliation_request

    db = estate["db"]
    url = reverse("system_detail", args=[db.pk])
    body = officer_client.get(url).content.decode()
    assert "Reconcile now" in body and ">Not reconciled yet.</p>" in body
    run, _ = reconciliation_request(actor=Actor.for_user(officer), system=db, trigger="manual")
    body = officer_client.get(url).content.decode()
    status_url = reverse("system_reconcile_status", args=[db.pk])
    assert 'data-testid="reconcile-progress"' in body
    # The polite status line says what state the pass is in; the bar is indeterminate.
    assert re.search(
        r'id="reconcile-state" role="status"[^>]*>A reconciliation pass is queued', body
    )
    assert '<progress id="reconcile-progress-bar" class="sd-progress"' in body
    assert '<label class="usa-label" for="reconcile-progress-bar">' in body
    assert f'hx-get="{status_url}?shown={run.pk}:queued" hx-trigger="every 3s"' in body
    assert "Reconcile now" not in body  # one pass at a time
    assert officer_client.get(status_url, {"shown": f"{run.pk}:queued"}).status_code == 204

    type(run).objects.filter(pk=run.pk).update(status="running", worker="w1")
    running = officer_client.get(status_url, {"shown": f"{run.pk}:queued"}).content.decode()
    assert '<p id="reconcile-state" hx-swap-oob="innerHTML">A reconciliation pass is running' in (
        running
    )
    assert f"?shown={run.pk}:running" in running and "<progress" in running

    type(run).objects.filter(pk=run.pk).update(status="succeeded", accounts=12, findings_opened=1)
    done = officer_client.get(status_url, {"shown": f"{run.pk}:running"}).content.decode()
    assert "hx-trigger" not in done and "<progress" not in done  # polling stops
    assert "Last pass finished" in done and "12 accounts, 1 finding opened." in done
    assert 'data-testid="reconciliation-runs"' in done and "Reconcile now" in done
    assert 'data-testid="reconcile-progress"' not in officer_client.get(url).content.decode()


def test_reconciliation_status_is_scoped(outsider_client, estate):
    url = reverse("system_reconcile_status", args=[estate["db"].pk])
    assert outsider_client.get(url, {"shown": ""}).status_code == 404


def test_evidence_forms_say_what_happens(auditor_client, estate):
    body = auditor_client.get(reverse("vendor_detail", args=[estate["vendor"].pk])).content
    vendor_pack = reverse("vendor_evidence_pack", args=[estate["vendor"].pk]).encode()
    assert b'<form method="post" action="' + vendor_pack + b'" data-busy-form>' in body
    assert b'data-testid="evidence-status"' in body
    contract_pack = reverse("contract_evidence_pack", args=[estate["running"].pk]).encode()
    assert b'<form method="post" action="' + contract_pack + b'">' in body
