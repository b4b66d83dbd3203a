"""What the dashboard shows a person: ids that labels and hints name, times with their
zone, numbers, bidi controls made visible, TOTP and sign-in messages, and the 404 page."""

import datetime as dt
import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from dashboard.models import SealedTOTPDevice as TOTPDevice
from tests.factories import VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db

ID = re.compile(r'\sid="([^"]+)"')
REFS = re.compile(r'\s(?:aria-describedby|aria-labelledby)="([^"]+)"|\sfor="([^"]+)"')


def _id_problems(html: str) -> list[str]:
    ids = ID.findall(html)
    problems = sorted({f"duplicate {i}" for i in ids if ids.count(i) > 1})
    for described, label_for in REFS.findall(html):
        for ref in (described or label_for).split():
            if ref not in ids:
                problems.append(f"missing {ref}")
    return problems


def test_contract_page_forms_have_their_own_ids_and_hints(client, procurement, estate):
    client = signed_in(procurement, verified=False)
    html = client.get(reverse("contract_detail", args=[estate["running"].pk])).content.decode()
    assert 'id="id_terminate_reason"' in html and 'id="id_end_reason"' in html
    # Django names the hint "<id>_helptext" in aria-describedby; the hint carries that id.
    assert 'aria-describedby="id_terminate_effective_date_helptext"' in html
    assert 'id="id_terminate_effective_date_helptext"' in html
    assert _id_problems(html) == []


def test_invalid_field_is_described_by_its_hint_and_its_error(procurement, estate):
    client = signed_in(procurement, verified=False)
    url = reverse("contract_terminate", args=[estate["running"].pk])
    response = client.post(url, {"effective_date": "not a date", "reason": ""})
    html = response.content.decode()
    assert response.status_code == 400
    assert (
        'aria-describedby="id_terminate_effective_date_helptext id_terminate_effective_date_error"'
        in html
    )
    assert _id_problems(html) == []


@override_settings(DEBUG=True)
def test_permission_404_is_the_dashboard_page_even_in_debug(officer_client, estate):
    response = officer_client.get(reverse("vendor_detail", args=[estate["secret_vendor"].pk]))
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "URLconf" not in html and "urlpatterns" not in html
    assert '<html lang="en">' in html


def test_bidi_override_refused_in_the_dashboard_form(officer_client, agency):
    response = officer_client.post(
        reverse("vendor_create"),
        {"agency": agency.slug, "name": "role\u202egnp.exe", "risk_tier": "medium"},
    )
    assert response.status_code == 400
    assert "bidirectional control characters" in response.content.decode()


def test_bidi_override_refused_by_the_api(officer, agency):
    from tests.api.conftest import token_client

    api = token_client(officer)
    response = api.post(
        "/api/v1/vendors/",
        {"agency": agency.pk, "name": "Acme\u2067 Ltd"},
        format="json",
    )
    assert response.status_code == 400
    assert "bidirectional" in str(response.json())


def test_bidi_controls_refused_in_reasons_and_notes_newlines_kept():
    from config.text import text_problem

    for ch in "\u200e\u200f\u202a\u202e\u2066\u2069":
        assert "bidirectional" in text_problem(f"left{ch}right", multiline=True)
    assert text_problem("line one\n\tline two\r\n", multiline=True) is None


def test_bidi_reason_refused_on_the_dashboard_forms(officer_client, estate):
    """A reason or note with a bidi control comes back as the field's error (400), the
    text kept; line breaks and tabs are ordinary text."""
    from access.models import Credential
    from revocation.models import ManualTask
    from revocation.services import revocation_batch_run

    live, overdue = estate["live"], estate["overdue"]
    url = reverse("credential_revoke", args=[live.pk])
    response = officer_client.post(url, {"reason": "ended \u202eyadot"})
    body = response.content.decode()
    assert response.status_code == 400 and 'id="id_revoke_reason_error"' in body
    assert "bidirectional control characters (found U+202E" in body
    live.refresh_from_db()
    assert live.status == Credential.Status.ACTIVE

    response = officer_client.post(
        reverse("vendor_kill_switch", args=[estate["vendor"].pk]),
        {"reason": "breach\n\u2067reported", "confirm": "on"},
    )
    assert response.status_code == 400 and "found U+2067" in response.content.decode()

    response = officer_client.post(url, {"reason": "Contract ended:\n\tsee ticket 42"})
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.revocation_reason == "Contract ended:\n\tsee ticket 42"

    # A manual task's note: the error in the task's own card.
    officer_client.post(reverse("credential_revoke", args=[overdue.pk]), {"reason": "ended"})
    revocation_batch_run(system_id=overdue.system_id, worker="test")
    task = ManualTask.objects.get(credential=overdue, status=ManualTask.Status.OPEN)
    response = officer_client.post(
        reverse("manual_task_complete", args=[task.pk]), {"note": "done\u200f by hand"}
    )
    assert response.status_code == 400
    assert f'id="id_task{task.pk}_note_error"' in response.content.decode()
    assert "found U+200F" in response.content.decode()


def test_bidi_reason_refused_by_the_api_with_its_field(officer, estate):
    from tests.api.conftest import token_client

    api = token_client(officer)
    response = api.post(
        f"/api/v1/vendors/{estate['vendor'].pk}/kill-switch/",
        {"reason": "breach \u202ereported"},
        format="json",
    )
    assert response.status_code == 400
    assert "bidirectional" in str(response.json()["error"]["fields"]["reason"])
    estate["live"].refresh_from_db()
    assert estate["live"].status == "active"


def test_bidi_override_in_an_old_row_is_shown_as_a_code_point(officer_client, agency):
    vendor = VendorFactory(agency=agency, name="role\u202egnp.exe")  # stored before the rule
    html = officer_client.get(reverse("vendor_kill_switch", args=[vendor.pk])).content.decode()
    assert "\u202e" not in html
    assert "role[U+202E]gnp.exe" in html


def _render(source: str, **context) -> str:
    request = context.pop("request", None)
    return Template("{% load dashboard_tags %}" + source).render(
        Context({"request": request, **context})
    )


def test_times_show_the_agency_zone_with_utc_in_the_title(officer, agency):
    request = RequestFactory().get("/")
    request.user = officer  # agency: Europe/Berlin
    moment = dt.datetime(2026, 7, 1, 5, 51, 50, tzinfo=dt.UTC)
    html = _render('{% when at "H:i:s" %}', at=moment, request=request)
    assert html == (
        '<time datetime="2026-07-01T05:51:50Z" title="2026-07-01 05:51:50 UTC">07:51:50 CEST</time>'
    )
    assert _render("{% when at %}", at=None, request=request) == "—"
    assert "ago" in _render("{% ago at %}", at=timezone.now(), request=request)


def test_audit_json_times_are_all_utc():
    html = _render(
        "{{ value|pretty_json }}",
        value={"a": "2026-07-01T07:00:00+02:00", "b": "2026-07-01T05:00:00Z", "c": "x"},
    )
    assert html.count("2026-07-01T05:00:00Z") == 2 and "+02:00" not in html


def test_numbers_and_durations():
    assert _render("{{ n|number }}", n=18000000) == "18,000,000"
    assert _render("{{ n|millis }}", n=0) == "0 ms"
    assert _render("{{ n|millis }}", n=2400) == "2.4 s"
    assert _render("{{ n|millis }}", n=None) == "—"


def _code(device) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


def test_totp_code_with_a_space_is_accepted(client, officer):
    client.force_login(officer)
    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)
    code = _code(device)
    response = client.post(reverse("otp_verify"), {"token": f"{code[:3]} {code[3:]}"})
    assert response.status_code == 302


def test_right_code_while_throttled_says_wait_not_clock(client, officer):
    client.force_login(officer)
    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)
    device.throttling_failure_count = 3
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    response = client.post(reverse("otp_verify"), {"token": _code(device)})
    html = response.content.decode()
    assert response.status_code == 400
    assert "wait" in html and "clock" not in html


def test_empty_sign_in_says_required(client, officer):
    response = client.post(reverse("login"), {"username": "", "password": ""})
    html = response.content.decode()
    assert "required" in html and "did not match" not in html
