"""LDAP connector against a private slapd: real entries, real binds."""

import ldap3
import pytest

from access.crypto import encrypt
from revocation.connectors.base import ConnectorError, connector_for
from tests.revocation.connectors.servers import (
    CallCounter,
    credentials,
    make_system,
)
from tests.revocation.connectors.tls_certs import TestCA

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "config",
    [
        {"on_revoke": "disable"},
        {"on_revoke": "disable", "disable_method": "ppolicy"},
        {"on_revoke": "delete"},
    ],
    ids=["remove-password", "ppolicy-lock", "delete"],
)
def test_revoke_makes_the_old_password_fail(slapd, ldap_system, config):
    dn = slapd.add_user()
    assert slapd.can_bind(dn)
    (credential,) = credentials(ldap_system(**config), [dn])

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)

    # The proof Sundown itself cannot run (it never knew the password): a real bind.
    assert not slapd.can_bind(dn)
    assert slapd.exists(dn) is (config["on_revoke"] != "delete")


def test_remove_groups_takes_the_entry_out_of_every_group(slapd, ldap_system):
    dn, other = slapd.add_user(), slapd.add_user()
    shared = slapd.add_group(dn, other)
    only = slapd.add_group(dn)
    (credential,) = credentials(ldap_system(on_revoke="remove_groups"), [dn])

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)
        connector.revoke(credential)  # idempotent

    assert slapd.members(shared) == [other]
    # groupOfNames must keep a member: the placeholder stands in.
    assert slapd.members(only) == ["cn=nobody"]
    # The entry itself still binds: group membership is what this mode takes away.
    assert slapd.can_bind(dn)


def test_list_accounts_reports_disabled_entries(slapd, ldap_system):
    active, revoked = slapd.add_user(), slapd.add_user()
    system = ldap_system()
    (credential,) = credentials(system, [revoked])
    with connector_for(system) as connector:
        connector.revoke(credential)
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert accounts[active].active is True
    assert accounts[revoked].active is False
    assert accounts[revoked].detail == "no password"


def test_batch_of_fifty_verified_with_one_search(slapd, ldap_system, monkeypatch):
    dns = [slapd.add_user() for _ in range(50)]
    system = ldap_system()
    creds = credentials(system, dns)
    with connector_for(system) as connector:
        assert connector.still_active(creds) == {c.pk for c in creds}
        searches = CallCounter(monkeypatch, ldap3.Connection, "search")
        modifies = CallCounter(monkeypatch, ldap3.Connection, "modify")
        results = connector.revoke_many(creds)
        assert connector.still_active(creds) == set()
    assert set(results.values()) == {None}
    # LDAP has no batch write: one modify per entry on one bound connection; one read.
    assert modifies.calls == 50
    assert searches.calls == 1
    assert not any(slapd.can_bind(dn) for dn in dns[:5])


def test_entry_outside_base_dn_is_refused_and_the_rest_revoked(slapd, ldap_system):
    # Verification searches under base_dn: an entry elsewhere would look revoked.
    dn = slapd.add_user()
    system = ldap_system()
    good, outside = credentials(system, [dn, "uid=x,dc=elsewhere,dc=test"])
    with connector_for(system) as connector:
        results = connector.revoke_many([good, outside])
        assert results[good.pk] is None
        assert results[outside.pk].permanent is True
        assert connector.still_active([good]) == set()
        with pytest.raises(ConnectorError) as caught:
            connector.is_active(outside)
    assert caught.value.permanent is True
    assert not slapd.can_bind(dn)


def test_unprivileged_bind_is_permanent(slapd, ldap_system):
    # A vendor entry may read (slapd's default ACL) but not write.
    weak, victim = slapd.add_user(), slapd.add_user()
    system = ldap_system(bind_dn=weak)
    system.secret_encrypted = encrypt("vendor-pass-1")
    (credential,) = credentials(system, [victim])
    with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
        connector.revoke(credential)
    assert caught.value.permanent is True
    assert slapd.can_bind(victim)


def test_a_multi_valued_rdn_does_not_pass_for_under_base_dn():
    """``uid=x+ou=people,dc=...`` sits beside ou=people, not under it (issue 10)."""
    from access.models import Credential, System

    system = System(kind="ldap", config={"base_dn": "ou=people,dc=example,dc=org"})
    connector = connector_for(system)
    batch = [
        Credential(pk=1, external_id="uid=outsider+ou=people,dc=example,dc=org"),
        Credential(pk=2, external_id="uid=vendor,ou=people,dc=example,dc=org"),
        Credential(pk=3, external_id="CN=B+UID=A,OU=People,DC=Example,DC=org"),
    ]
    dns, refused = connector._dns(batch)
    assert set(refused) == {1} and refused[1].permanent
    assert set(dns) == {2, 3}


# TLS (the same code as the ad kind's: revocation/connectors/directory.py) -------------
@pytest.fixture
def tls_system(agency, slapd_tls):
    def make(**config):
        base = {**slapd_tls.config(), "url": slapd_tls.ldaps_url, "tls_ca": slapd_tls.ca.pem}
        return make_system(agency, "ldap", {**base, **config}, secret=slapd_tls.password)

    return make


@pytest.mark.parametrize("start_tls", [False, True], ids=["ldaps", "starttls"])
def test_tls_with_the_directory_ca_checks_certificate_and_host(slapd_tls, tls_system, start_tls):
    dn = slapd_tls.add_user()
    url = slapd_tls.url if start_tls else slapd_tls.ldaps_url
    (credential,) = credentials(tls_system(url=url, start_tls=start_tls), [dn])
    with connector_for(credential.system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert not slapd_tls.can_bind(dn)


@pytest.mark.parametrize(
    "config",
    [
        {"tls_ca": TestCA("Somebody else's CA").pem},
        {"tls_ca": ""},  # the system trust store
        {"url": "other"},  # 127.0.0.2: an address the certificate does not name
    ],
    ids=["wrong-ca", "trust-store", "wrong-host"],
)
def test_a_certificate_that_fails_validation_is_permanent(slapd_tls, tls_system, config):
    if config.get("url") == "other":
        config = {"url": slapd_tls.other_ldaps_url}
    dn = slapd_tls.add_user()
    (credential,) = credentials(tls_system(**config), [dn])
    with pytest.raises(ConnectorError) as caught, connector_for(credential.system) as c:
        c.revoke(credential)
    assert caught.value.permanent
    assert "TLS certificate was not accepted" in caught.value.message
    assert slapd_tls.can_bind(dn)
    # Only an explicit tls_verify: false gets past it.
    with connector_for(tls_system(**config, tls_verify=False)) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
