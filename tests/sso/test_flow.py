"""Single sign-on against the real OpenID provider (tests/sso/oidc_provider.mjs), without a
browser: Django's test client is Sundown's side, requests walks the provider's pages."""

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from sso.models import OidcIdentity
from tests.sso.provider import MFA_ACR, idp_sign_in
from vendors.permissions import roles_of
from vendors.services import agency_set_idp_mfa_trust

pytestmark = [pytest.mark.slow]
User = get_user_model()


def _start(client, next_url=""):
    response = client.get("/accounts/oidc/start/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content
    return response["Location"]


def _callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign_in(client, login, next_url=""):
    """The whole flow for ``login``; returns Sundown's answer to the callback."""
    return client.get(_callback_path(idp_sign_in(_start(client, next_url), login)))


def _actions(since_seq):
    return list(
        AuditEvent.objects.filter(seq__gt=since_seq)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def _head():
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_the_sign_in_page_offers_the_provider_only_when_configured(client, settings, sso):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page
    assert 'href="/accounts/oidc/start/' in page
    settings.SUNDOWN_OIDC_ISSUER = ""
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert client.get("/accounts/oidc/start/").status_code == 404


def test_first_sign_in_creates_the_user_with_the_mapped_roles(client, sso, agency, other_agency):
    head = _head()
    response = sign_in(client, "cleo", next_url="/contracts/")
    assert response.status_code == 302
    assert response["Location"] == "/contracts/"

    user = User.objects.get(username="cleo")
    assert not user.has_usable_password()
    assert (user.email, user.first_name) == ("cleo@health.example", "")
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.issuer, "cleo")
    assert roles_of(user, agency) == ["procurement"]
    assert roles_of(user, other_agency) == ["auditor"]

    assert _actions(head) == [
        "auth.oidc_user_created",
        "agency.role_granted",
        "agency.role_granted",
        "auth.oidc_signed_in",
        "auth.login",
    ]
    signed_in = AuditEvent.objects.get(seq__gt=head, action="auth.oidc_signed_in")
    assert signed_in.actor_name == "cleo"
    assert signed_in.after["groups"] == ["staff", "sundown-procurement", "sundown-tax-auditors"]
    assert signed_in.after["granted"] == [
        {"agency": "health", "role": "procurement"},
        {"agency": "tax", "role": "auditor"},
    ]
    grant = AuditEvent.objects.filter(seq__gt=head, action="agency.role_granted").first()
    assert grant.actor_name == "system:oidc"

    home = client.get("/").content.decode()
    assert "Federal Ministry of Health" in home and "Regional Tax Office" in home


def test_each_sign_in_applies_the_providers_current_groups(client, sso, agency, other_agency):
    sign_in(client, "cleo")
    user = User.objects.get(username="cleo")
    client.logout()

    sso.user_set("cleo", groups=["sundown-health-officers"])
    head = _head()
    assert sign_in(client, "cleo").status_code == 302
    assert roles_of(user, agency) == ["security_officer", "auditor"]  # officer covers auditor
    assert roles_of(user, other_agency) == []
    changes = AuditEvent.objects.filter(seq__gt=head, action__startswith="agency.role_")
    assert sorted((e.action, e.agency_id, e.before or e.after) for e in changes) == sorted(
        [
            ("agency.role_revoked", agency.pk, {"role": "procurement", "agency": agency.pk}),
            ("agency.role_granted", agency.pk, {"role": "security_officer", "agency": agency.pk}),
            (
                "agency.role_revoked",
                other_agency.pk,
                {"role": "auditor", "agency": other_agency.pk},
            ),
        ]
    )
    client.logout()

    # The same groups again: nothing to change, nothing recorded but the sign-in.
    head = _head()
    sign_in(client, "cleo")
    assert _actions(head) == ["auth.oidc_signed_in", "auth.login"]


def test_a_mapping_change_takes_effect_at_the_next_sign_in(client, settings, sso, agency):
    sign_in(client, "olivia")
    user = User.objects.get(username="olivia")
    assert roles_of(user, agency) == ["security_officer", "auditor"]
    client.logout()
    settings.SUNDOWN_OIDC_ROLE_MAPPING = json.dumps(
        {"sundown-health-officers": [{"agency": "health", "role": "auditor"}]}
    )
    head = _head()
    sign_in(client, "olivia")
    assert roles_of(user, agency) == ["auditor"]
    assert _actions(head) == [
        "agency.role_revoked",
        "agency.role_granted",
        "auth.oidc_signed_in",
        "auth.login",
    ]


def test_a_user_without_a_mapped_group_is_refused_and_audited(client, sso):
    head = _head()
    response = sign_in(client, "nora")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Sign-in refused" in page
    assert "not in any group that has access to Sundown" in page
    assert not User.objects.filter(username="nora").exists()
    assert "_auth_user_id" not in client.session
    refused = AuditEvent.objects.get(seq__gt=head)
    assert refused.action == "auth.oidc_refused"
    assert refused.actor_type == "anonymous" and refused.actor_name == "nora"
    assert refused.after["reason"] == "no_mapped_group"
    assert refused.after["groups"] == ["marketing", "staff"]
    assert refused.source_ip == "127.0.0.1"


def test_a_group_mapped_to_a_missing_agency_grants_nothing(client, sso):
    sso.user_set("nora", groups=["sundown-ghost-agency"])
    head = _head()
    assert sign_in(client, "nora").status_code == 403
    refused = AuditEvent.objects.get(seq__gt=head)
    assert refused.after["unknown_agencies"] == ["no-such-agency"]


def test_removed_from_every_mapped_group_loses_all_roles_and_is_refused(client, sso, agency):
    sign_in(client, "olivia")
    user = User.objects.get(username="olivia")
    client.logout()
    sso.user_set("olivia", groups=["staff"])
    head = _head()
    assert sign_in(client, "olivia").status_code == 403
    assert roles_of(user, agency) == []
    assert _actions(head) == ["agency.role_revoked", "auth.oidc_refused"]


def test_a_local_account_with_the_same_username_is_not_taken_over(client, sso, officer, agency):
    head = _head()
    response = sign_in(client, "officer")
    assert response.status_code == 403
    assert "A local Sundown account already uses your username" in response.content.decode()
    assert not OidcIdentity.objects.exists()
    assert AuditEvent.objects.get(seq__gt=head).after["reason"] == "username_taken"


def test_a_disabled_user_is_refused(client, sso):
    sign_in(client, "olivia")
    client.logout()
    User.objects.filter(username="olivia").update(is_active=False)
    response = sign_in(client, "olivia")
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_a_forged_or_replayed_state_is_refused(client, sso):
    callback = idp_sign_in(_start(client), "olivia")
    query = dict(parse_qsl(urlsplit(callback).query))
    head = _head()
    forged = client.get(f"/accounts/oidc/callback/?{urlencode({**query, 'state': 'forged'})}")
    assert forged.status_code == 400
    assert AuditEvent.objects.get(seq__gt=head).after["reason"] == "state_mismatch"
    assert client.get(_callback_path(callback)).status_code == 302  # the real one still works
    client.logout()
    replayed = client.get(_callback_path(callback))
    assert replayed.status_code == 400
    assert "_auth_user_id" not in client.session


def test_an_id_token_with_another_nonce_is_refused(client, sso):
    callback = idp_sign_in(_start(client), "olivia")
    session = client.session
    (key,) = [k for k in session.keys() if k.startswith("_state_")]  # noqa: SIM118
    stored = session[key]
    stored["data"]["nonce"] = "not-the-nonce-we-sent"
    session[key] = stored
    session.save()
    head = _head()
    response = client.get(_callback_path(callback))
    assert response.status_code == 400
    refused = AuditEvent.objects.get(seq__gt=head)
    assert refused.after["reason"] == "invalid_id_token"
    assert "nonce" in refused.after["detail"]
    assert not User.objects.filter(username="olivia").exists()


def test_an_error_from_the_provider_is_refused(client, sso):
    _start(client)
    (key,) = [k for k in client.session.keys() if k.startswith("_state_")]  # noqa: SIM118
    state = key.rsplit("_", 1)[-1]
    response = client.get(f"/accounts/oidc/callback/?error=access_denied&state={state}")
    assert response.status_code == 400
    assert AuditEvent.objects.order_by("-seq").first().after["reason"] == "provider_error"


def test_an_unreachable_provider_is_a_clear_page(client, settings, sso):
    settings.SUNDOWN_OIDC_ISSUER = "http://127.0.0.1:9"
    response = client.get("/accounts/oidc/start/")
    assert response.status_code == 502
    assert "could not be reached" in response.content.decode()


# The second factor ------------------------------------------------------------


def test_idp_mfa_replaces_totp_only_where_the_agency_accepts_it(client, sso, agency, actor):
    # Not accepted (the default): the officer must enrol TOTP despite the amr claim.
    sign_in(client, "mia")
    assert client.get("/").url.startswith("/account/two-factor/setup/")
    client.logout()

    agency_set_idp_mfa_trust(actor=actor, agency=agency, trusted=True)
    head = _head()
    sign_in(client, "mia")
    event = AuditEvent.objects.get(seq__gt=head, action="auth.oidc_signed_in")
    assert client.get("/").status_code == 200
    assert event.after["amr"] == ["pwd", "otp"]
    assert event.after["idp_mfa"] is True and event.after["idp_mfa_accepted"] is True

    # Withdrawn mid-session: the next page asks for TOTP.
    agency_set_idp_mfa_trust(actor=actor, agency=agency, trusted=False)
    assert client.get("/").url.startswith("/account/two-factor/setup/")


def test_a_password_only_sign_in_still_needs_totp(client, sso, agency, actor):
    agency_set_idp_mfa_trust(actor=actor, agency=agency, trusted=True)
    sign_in(client, "olivia")
    assert client.get("/").url.startswith("/account/two-factor/setup/")


def test_a_configured_acr_counts_as_mfa(client, settings, sso, agency, actor):
    agency_set_idp_mfa_trust(actor=actor, agency=agency, trusted=True)
    sign_in(client, "alex")
    assert client.get("/").status_code == 200
    client.logout()
    settings.SUNDOWN_OIDC_MFA_ACR = []
    sign_in(client, "alex")
    assert client.get("/").status_code == 302
    assert MFA_ACR not in settings.SUNDOWN_OIDC_MFA_ACR


def test_every_agency_the_officer_revokes_in_must_accept_it(
    client, settings, sso, agency, other_agency, actor
):
    settings.SUNDOWN_OIDC_ROLE_MAPPING = json.dumps(
        {
            "sundown-health-officers": [
                {"agency": "health", "role": "security_officer"},
                {"agency": "tax", "role": "security_officer"},
            ]
        }
    )
    agency_set_idp_mfa_trust(actor=actor, agency=agency, trusted=True)
    sign_in(client, "mia")
    assert client.get("/").status_code == 302  # tax does not accept it
    agency_set_idp_mfa_trust(actor=actor, agency=other_agency, trusted=True)
    assert client.get("/").status_code == 200
