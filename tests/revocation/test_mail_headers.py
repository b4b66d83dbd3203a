"""A line break in a name never costs an alert or a notice (issue 10): subjects are made one
line, a bad address is skipped, and a notice that can never be sent is not retried forever.

Rows are made with factories, past the services that now refuse such names: the mail
must hold up for names already stored.
"""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from revocation import services
from revocation.models import ExpiryNotice
from revocation.services import alerts, notices
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db


def _headers_clean(message) -> None:
    parsed = message.message()
    assert parsed.get_all("Bcc") is None and parsed.get_all("X-Evil") is None
    assert message.bcc == []
    assert "\r" not in message.subject and "\n" not in message.subject


def test_a_newline_in_a_vendor_name_does_not_stop_its_expiry_notice(agency):
    vendor = VendorFactory(agency=agency, name="Notice\r\nBcc: attacker@evil.test")
    today = timezone.now().astimezone(agency.tz).date()
    contract = ContractFactory(
        vendor=vendor,
        end_date=today + dt.timedelta(days=5),
        procurement_contact_email="buyer@agency.example",
    )
    assert services.expiry_notices_send() == 1
    (notice,) = mail.outbox
    assert notice.to == ["buyer@agency.example"] and contract.reference in notice.subject
    _headers_clean(notice)


def test_a_newline_in_a_system_name_does_not_stop_the_failure_alert(agency, settings):
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    system = SystemFactory(agency=agency, name="x\nsystem")
    credential = CredentialFactory(system=system, vendor=VendorFactory(agency=agency))
    alerts.alert_failed(system, [credential], {credential.pk: "could not connect"})
    (alert,) = mail.outbox
    assert "FAILED" in alert.subject and "x system" in alert.subject
    _headers_clean(alert)


def test_a_manual_hand_off_reaches_the_owner_whatever_the_name(agency):
    system = SystemFactory(agency=agency, name="desk\r\nX-Evil: 1", owner_email="ops@x.example")
    credential = CredentialFactory(system=system, vendor=VendorFactory(agency=agency))
    alerts.notify_owner(system, [credential])
    (message,) = mail.outbox
    assert message.to == ["ops@x.example"] and "X-Evil" not in message.extra_headers
    _headers_clean(message)


def test_a_notice_that_can_never_be_sent_is_recorded_once_not_retried_forever(agency, monkeypatch):
    vendor = VendorFactory(agency=agency)
    today = timezone.now().astimezone(agency.tz).date()
    contract = ContractFactory(
        vendor=vendor,
        end_date=today + dt.timedelta(days=3),
        procurement_contact_email="buyer@agency.example",
    )
    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise ValueError("this message cannot be encoded")

    monkeypatch.setattr(notices, "send_mail", broken)
    assert services.expiry_notices_send() == 0
    assert services.expiry_notices_send() == 0
    assert len(calls) == 1
    (failed,) = AuditEvent.objects.filter(action="contract.expiry_notice_failed")
    assert failed.target_id == str(contract.pk) and failed.after["error"] == "ValueError"
    assert ExpiryNotice.objects.get(contract=contract).recipients == []
