"""Services of the revocation engine: requests, kill switch, manual tasks, sweep, notices."""

import datetime as dt
from io import StringIO

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from access.models import Credential
from audit.models import AuditEvent
from revocation import selectors, services
from revocation.models import ExpiryNotice, ManualTask
from revocation.services import notices
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, UserFactory
from vendors.models import Contract, Vendor
from vendors.services import contract_change_end_date, contract_terminate


@pytest.fixture
def dispatched(monkeypatch):
    """Record dispatches instead of publishing them."""
    from revocation import tasks

    sent = []
    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid, **kw: sent.append(sid))
    return sent


def events(action, target=None):
    qs = AuditEvent.objects.filter(action=action)
    if target is not None:
        qs = qs.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
    return list(qs)


def test_credential_revoke_moves_to_pending_audits_and_dispatches_on_commit(
    vendor, actor, dispatched, django_capture_on_commit_callbacks
):
    credential = CredentialFactory(vendor=vendor)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.credential_revoke(
            actor=actor, credential=credential, reason="Laptop stolen"
        )
    assert result.status == Credential.Status.PENDING
    assert result.revocation_reason == "Laptop stolen"
    assert result.revocation_requested_by == "officer"
    assert result.next_attempt_at is not None
    assert dispatched == [credential.system_id]
    (event,) = events("credential.revocation_requested", credential)
    assert event.actor_name == "officer" and event.source_ip == "192.0.2.10"
    assert event.before == {"status": "active"}
    assert event.after["status"] == "pending" and event.after["trigger"] == "manual_revoke"
    assert event.agency_id == vendor.agency_id


def test_credential_revoke_is_a_no_op_when_already_pending(vendor, actor, dispatched):
    credential = CredentialFactory(vendor=vendor, status=Credential.Status.PENDING)
    services.credential_revoke(actor=actor, credential=credential, reason="again")
    assert events("credential.revocation_requested") == []


def test_credential_revoke_needs_a_reason(vendor, actor):
    with pytest.raises(ValidationError):
        services.credential_revoke(
            actor=actor, credential=CredentialFactory(vendor=vendor), reason=" "
        )


def test_failed_credential_can_be_requested_again(vendor, actor, dispatched):
    credential = CredentialFactory(vendor=vendor, status=Credential.Status.FAILED, attempts=5)
    result = services.credential_revoke(actor=actor, credential=credential, reason="retry now")
    assert result.status == Credential.Status.PENDING
    assert result.attempts == 0  # a fresh retry ladder


def test_kill_switch_revokes_every_live_credential_and_suspends_vendor(
    vendor, actor, dispatched, django_capture_on_commit_callbacks
):
    systems = SystemFactory.create_batch(2, agency=vendor.agency)
    active = [CredentialFactory(vendor=vendor, system=s) for s in systems]
    failed = CredentialFactory(vendor=vendor, system=systems[0], status=Credential.Status.FAILED)
    revoked = CredentialFactory(
        vendor=vendor, status=Credential.Status.REVOKED, revoked_at=timezone.now()
    )
    pending = CredentialFactory(vendor=vendor, status=Credential.Status.PENDING)
    other_vendor_cred = CredentialFactory()

    preview = set(selectors.kill_switch_preview(vendor=vendor))
    assert preview == {*active, failed}

    with django_capture_on_commit_callbacks(execute=True):
        result = services.vendor_kill_switch(actor=actor, vendor=vendor, reason="Breach claimed")
    assert {c.pk for c in result} == {c.pk for c in preview}
    assert all(c.status == Credential.Status.PENDING for c in result)
    assert sorted(dispatched) == sorted(s.pk for s in systems)
    for untouched, status in ((revoked, "revoked"), (pending, "pending")):
        untouched.refresh_from_db()
        assert untouched.status == status
    other_vendor_cred.refresh_from_db()
    assert other_vendor_cred.status == Credential.Status.ACTIVE

    vendor.refresh_from_db()
    assert vendor.status == Vendor.Status.SUSPENDED
    (switch,) = events("vendor.kill_switch", vendor)
    assert switch.after["reason"] == "Breach claimed"
    assert sorted(switch.after["credentials"]) == sorted(c.pk for c in preview)
    requested = events("credential.revocation_requested")
    assert len(requested) == 3
    assert {e.after["trigger"] for e in requested} == {"kill_switch"}
    assert list(selectors.kill_switch_preview(vendor=vendor)) == []


def test_kill_switch_suspends_through_the_vendor_service(vendor, actor, dispatched):
    """The suspension is vendors.services.vendor_set_status's audited write, once."""
    CredentialFactory(vendor=vendor)
    services.vendor_kill_switch(actor=actor, vendor=vendor, reason="Breach claimed")
    (changed,) = events("vendor.status_changed", vendor)
    assert changed.before == {"status": "active"}
    assert changed.after == {"status": "suspended", "reason": "Breach claimed"}
    # Pulled again on a suspended vendor: credentials are re-checked, the status is not.
    services.vendor_kill_switch(actor=actor, vendor=vendor, reason="again")
    assert len(events("vendor.status_changed", vendor)) == 1
    assert len(events("vendor.kill_switch", vendor)) == 2


def test_manual_task_complete_revokes_with_the_person_as_revoker(vendor, actor):
    credential = CredentialFactory(vendor=vendor, status=Credential.Status.PENDING)
    task = ManualTask.objects.create(
        credential=credential,
        system=credential.system,
        reason=ManualTask.Reason.MANUAL_SYSTEM,
        opened_at=timezone.now(),
    )
    with pytest.raises(ValidationError):
        services.manual_task_complete(actor=actor, task=task, note="")

    done = services.manual_task_complete(actor=actor, task=task, note="Removed the SSH key")
    assert done.status == ManualTask.Status.DONE and done.completed_by == "officer"
    assert done.note == "Removed the SSH key" and done.completed_at is not None
    credential.refresh_from_db()
    # A person's word is its own status, never "Revoked (verified)".
    assert credential.status == Credential.Status.CONFIRMED
    assert credential.status_label == "Revoked, confirmed by officer"
    assert credential.revoked_by == "officer" and credential.revoked_at is not None
    (revoked,) = events("credential.revoked", credential)
    assert revoked.after["verified"] is False and revoked.after["manual_task"] == task.pk
    assert revoked.actor_name == "officer"
    assert len(events("manual_task.completed")) == 1

    # Confirming twice changes nothing and records nothing more.
    services.manual_task_complete(actor=actor, task=task, note="again")
    assert len(events("credential.revoked")) == 1
    assert len(events("manual_task.completed")) == 1


def test_confirm_revoked_records_a_persons_word(agency, actor, last_event):
    """Moved from access: a person records that active access is already gone."""
    credential = CredentialFactory(vendor__agency=agency)
    services.credential_confirm_revoked(
        actor=actor, credential=credential, reason="confirmed by owner"
    )
    event = last_event()
    assert event.action == "credential.revoked"
    assert event.before == {"status": "active"}
    # The keys it always had, plus the shape every credential.revoked event shares.
    assert event.after == {
        "status": "confirmed",
        "reason": "confirmed by owner",
        "by": "person",
        "verified": False,
        "how": "confirmation",
        "confirmed_by": actor.name,
    }
    credential.refresh_from_db()
    assert credential.revoked_by == actor.name and credential.revoked_at
    assert credential.status == Credential.Status.CONFIRMED
    count = AuditEvent.objects.count()
    services.credential_confirm_revoked(actor=actor, credential=credential, reason="again")
    assert AuditEvent.objects.count() == count  # already revoked: nothing to do


def test_confirm_revoked_refuses_queued_credentials_and_empty_reason(actor, agency):
    credential = CredentialFactory(vendor__agency=agency, status="pending")
    with pytest.raises(ValidationError, match="revocation queue"):
        services.credential_confirm_revoked(actor=actor, credential=credential, reason="x")
    with pytest.raises(ValidationError) as exc:
        services.credential_confirm_revoked(actor=actor, credential=credential, reason=" ")
    assert "reason" in exc.value.message_dict
    credential.refresh_from_db()
    assert credential.status == "pending"


def test_selectors_restrict_to_the_users_agency(vendor, officer, outsider):
    mine = CredentialFactory(vendor=vendor, status=Credential.Status.PENDING)
    theirs = CredentialFactory(status=Credential.Status.FAILED)
    ManualTask.objects.create(
        credential=mine, system=mine.system, reason="failed", opened_at=timezone.now()
    )
    ManualTask.objects.create(
        credential=theirs, system=theirs.system, reason="failed", opened_at=timezone.now()
    )
    assert list(selectors.pending_credentials(user=officer)) == [mine]
    assert list(selectors.failed_credentials(user=officer)) == []
    assert [t.credential for t in selectors.open_manual_tasks(user=officer)] == [mine]
    assert list(selectors.pending_credentials(user=outsider)) == []
    assert list(selectors.open_manual_tasks(user=outsider)) == []


# Sweep ------------------------------------------------------------------------


def _ended_contract(vendor, **kwargs):
    return ContractFactory(
        vendor=vendor,
        end_date=timezone.localdate() - dt.timedelta(days=3),
        **kwargs,
    )


def test_sweep_requests_credentials_whose_every_contract_ended(vendor, dispatched):
    ended = _ended_contract(vendor)
    live = ContractFactory(vendor=vendor)
    only_ended = CredentialFactory(vendor=vendor, contracts=[ended])
    also_live = CredentialFactory(vendor=vendor, contracts=[ended, live])
    only_live = CredentialFactory(vendor=vendor, contracts=[live])

    result = services.revocation_sweep()

    assert result.requested == 1
    assert result.contracts_ended == 1
    statuses = {c.pk: c.status for c in Credential.objects.all()}
    assert statuses == {only_ended.pk: "pending", also_live.pk: "active", only_live.pk: "active"}
    (event,) = events("credential.revocation_requested", only_ended)
    assert event.after["trigger"] == "contract_ended"
    assert event.actor_type == "system"
    ended.refresh_from_db()
    assert ended.status == Contract.Status.ENDED
    assert len(events("contract.ended", ended)) == 1
    # Nothing more on a second run.
    again = services.revocation_sweep()
    assert again.requested == 0 and again.contracts_ended == 0
    assert len(events("credential.revocation_requested")) == 1


def test_extension_before_the_end_keeps_credentials_active(vendor, actor, dispatched):
    contract = ContractFactory(vendor=vendor, end_date=timezone.localdate() + dt.timedelta(days=1))
    credential = CredentialFactory(vendor=vendor, contracts=[contract])
    contract_change_end_date(
        actor=actor,
        contract=contract,
        end_date=timezone.localdate() + dt.timedelta(days=200),
        reason="renewed",
    )
    services.revocation_sweep()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    assert events("credential.revocation_requested") == []


def test_early_termination_revokes_at_the_new_date(vendor, actor, dispatched):
    contract = ContractFactory(
        vendor=vendor,
        start_date=timezone.localdate() - dt.timedelta(days=100),
        end_date=timezone.localdate() + dt.timedelta(days=100),
    )
    credential = CredentialFactory(vendor=vendor, contracts=[contract])
    services.revocation_sweep()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE

    # Terminated effective yesterday: access ended at the last midnight in the agency's zone.
    contract_terminate(
        actor=actor,
        contract=contract,
        effective_date=timezone.now().astimezone(vendor.agency.tz).date() - dt.timedelta(days=1),
        reason="Breach of contract",
    )
    result = services.revocation_sweep()
    assert result.requested == 1
    credential.refresh_from_db()
    assert credential.status == Credential.Status.PENDING
    contract.refresh_from_db()
    assert contract.status == Contract.Status.TERMINATED  # ending keeps "terminated"


def test_termination_effective_today_waits_for_the_end_of_the_day(vendor, actor, dispatched):
    contract = ContractFactory(vendor=vendor)
    credential = CredentialFactory(vendor=vendor, contracts=[contract])
    contract_terminate(actor=actor, contract=contract, reason="Ends today")
    services.revocation_sweep()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE


# Notices ----------------------------------------------------------------------


def test_expiry_notices_go_once_to_sponsor_and_procurement(vendor, actor):
    sponsor = UserFactory(username="sponsor", email="sponsor@agency.example")
    vendor.sponsor = sponsor
    vendor.save()
    today = timezone.now().astimezone(vendor.agency.tz).date()
    soon = ContractFactory(
        vendor=vendor,
        end_date=today + dt.timedelta(days=5),
        procurement_contact_email="buyer@agency.example",
    )
    later = ContractFactory(vendor=vendor, end_date=today + dt.timedelta(days=20))
    ContractFactory(vendor=vendor, end_date=today + dt.timedelta(days=90))  # not yet

    assert services.expiry_notices_send() == 2
    assert services.expiry_notices_send() == 0  # each notice once
    assert len(mail.outbox) == 2
    by_subject = {m.subject: m for m in mail.outbox}
    seven = next(m for s, m in by_subject.items() if soon.reference in s)
    assert "7 days" in seven.subject
    assert sorted(seven.to) == ["buyer@agency.example", "sponsor@agency.example"]
    thirty = next(m for s, m in by_subject.items() if later.reference in s)
    assert "30 days" in thirty.subject and thirty.to == ["sponsor@agency.example"]
    assert set(ExpiryNotice.objects.values_list("contract_id", "days_before")) == {
        (soon.pk, 7),
        (later.pk, 30),
    }
    notice_events = events("contract.expiry_notice_sent")
    assert {(e.target_id, e.after["days_before"]) for e in notice_events} == {
        (str(soon.pk), 7),
        (str(later.pk), 30),
    }

    # Extended: a notice for the new end date when it comes due, not a repeat now.
    contract_change_end_date(
        actor=actor, contract=soon, end_date=today + dt.timedelta(days=25), reason="renewed"
    )
    assert services.expiry_notices_send() == 1
    assert "30 days" in mail.outbox[-1].subject
    assert services.expiry_notices_send() == 0


def test_a_refused_expiry_notice_holds_back_no_other_and_goes_out_later(vendor, monkeypatch):
    today = timezone.now().astimezone(vendor.agency.tz).date()
    bad = ContractFactory(
        vendor=vendor,
        end_date=today + dt.timedelta(days=3),
        procurement_contact_email="typo@agency.example",
    )
    good = ContractFactory(
        vendor=vendor,
        end_date=today + dt.timedelta(days=20),
        procurement_contact_email="buyer@agency.example",
    )
    real_send_mail = notices.send_mail

    def refusing(*, recipient_list, **kwargs):
        if "typo@agency.example" in recipient_list:
            raise OSError("550 no such mailbox")
        return real_send_mail(recipient_list=recipient_list, **kwargs)

    monkeypatch.setattr(notices, "send_mail", refusing)
    # The contract that ends first fails; the one after it still gets its notice.
    assert services.expiry_notices_send() == 1
    assert [m.to for m in mail.outbox] == [["buyer@agency.example"]]
    assert list(ExpiryNotice.objects.values_list("contract_id", flat=True)) == [good.pk]
    assert {e.target_id for e in events("contract.expiry_notice_sent")} == {str(good.pk)}

    monkeypatch.setattr(notices, "send_mail", real_send_mail)
    assert services.expiry_notices_send() == 1  # the refused one, once the mail goes
    assert bad.reference in mail.outbox[-1].subject


# Management commands ------------------------------------------------------------


def test_kill_switch_command(vendor, dispatched):
    from django.core.management import CommandError, call_command

    credentials = CredentialFactory.create_batch(2, vendor=vendor)
    out = StringIO()
    call_command("kill_switch", vendor.pk, "--reason", "drill", "--dry-run", stdout=out)
    assert "2 credential(s) to revoke" in out.getvalue()
    assert set(Credential.objects.values_list("status", flat=True)) == {"active"}

    call_command("kill_switch", vendor.pk, "--reason", "Breach", "--operator", "ciso", stdout=out)
    assert set(Credential.objects.values_list("status", flat=True)) == {"pending"}
    (event,) = events("vendor.kill_switch")
    assert event.actor_name == "system:manage.py kill_switch by ciso"
    assert sorted(event.after["credentials"]) == sorted(c.pk for c in credentials)
    with pytest.raises(CommandError):
        call_command("kill_switch", 999999, "--reason", "x")


def test_revoke_credential_command(vendor, dispatched):
    from django.core.management import CommandError, call_command

    credential = CredentialFactory(vendor=vendor)
    out = StringIO()
    call_command("revoke_credential", credential.pk, "--reason", "Left the company", stdout=out)
    assert "active -> pending" in out.getvalue()
    (event,) = events("credential.revocation_requested", credential)
    assert event.after["reason"] == "Left the company"
    call_command("revoke_credential", credential.pk, "--reason", "again", stdout=out)
    assert "already pending" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("revoke_credential", credential.pk, "--reason", " ")
