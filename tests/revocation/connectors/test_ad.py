"""Active Directory connector against a real Samba AD DC (samba_dc.py): real binds, kinit.

The contract cases (idempotence, missing, verify, down, refused) run in
test_contract.py; these are what only AD has: userAccountControl bits, AD's refusal
messages (data 533), Kerberos, groups that may be left empty, the connector's own
account, TLS with a CA of the directory's own, and paged listing.
"""

import ldap3
import pytest

from audit.actor import Actor
from findings.models import AccountPattern, Finding
from findings.reconciliation import reconciliation_request, reconciliation_run
from revocation.connectors import ad, directory
from revocation.connectors.base import ConnectorError, connector_for
from tests.factories import VendorFactory
from tests.revocation.connectors.servers import CallCounter, credentials
from tests.revocation.connectors.tls_certs import TestCA

pytestmark = pytest.mark.django_db

NORMAL_ACCOUNT, DONT_EXPIRE_PASSWORD = 0x200, 0x10000


def test_disable_sets_the_bit_keeps_the_others_and_the_vendor_is_refused(samba_dc, ad_system):
    sam = samba_dc.add_user()
    samba_dc.set_uac(sam, NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD)
    assert samba_dc.bind(sam) == (True, "")
    assert samba_dc.kinit(sam)[0]
    (credential,) = credentials(ad_system(), [sam])

    with connector_for(credential.system) as connector:
        assert connector.still_active([credential]) == {credential.pk}
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert connector.still_active([credential]) == set()

    assert samba_dc.uac(sam) == NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD | 0x2
    bound, message = samba_dc.bind(sam)
    assert not bound and "data 533" in message  # ERROR_ACCOUNT_DISABLED
    got_ticket, said = samba_dc.kinit(sam)
    assert not got_ticket and "credentials have been revoked" in said


def test_delete_removes_the_account_and_the_vendor_is_refused(samba_dc, ad_system):
    sam = samba_dc.add_user()
    (credential,) = credentials(ad_system(on_revoke="delete"), [sam])
    with connector_for(credential.system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
        connector.revoke(credential)  # gone is gone
    assert samba_dc.dn(sam) is None
    assert not samba_dc.can_bind(sam)
    got_ticket, said = samba_dc.kinit(sam)
    assert not got_ticket and "not found in Kerberos database" in said


def test_remove_groups_empties_a_group_the_vendor_alone_was_in(samba_dc, ad_system):
    sam, other = samba_dc.add_user(), samba_dc.add_user()
    shared = samba_dc.add_group(sam, other)
    alone = samba_dc.add_group(sam)
    (credential,) = credentials(ad_system(on_revoke="remove_groups"), [sam])

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert not connector.is_active(credential)
        connector.revoke(credential)  # idempotent
        assert samba_dc.members(shared) == [samba_dc.dn(other)]
        # AD allows an empty group: no stand-in member is invented.
        assert samba_dc.members(alone) == []
        # Verify reads memberOf: a membership given back by hand is seen.
        samba_dc.add_member(alone, sam)
        assert connector.is_active(credential)
    # This mode takes the groups, not the login.
    assert samba_dc.can_bind(sam)


def test_the_connector_refuses_its_own_bind_account(samba_dc, ad_system):
    service = samba_dc.add_user("Service-Pass-1")
    service_dn = samba_dc.dn(service)
    with samba_dc.admin_connection() as conn:
        admins = f"CN=Domain Admins,CN=Users,{samba_dc.base}"
        conn.modify(admins, {"member": [(ldap3.MODIFY_ADD, [service_dn])]})
    victim = samba_dc.add_user()
    for bind_dn in (service_dn, f"{service}@sundown.test", f"SUNDOWN\\{service}"):
        system = ad_system(bind_dn=bind_dn, secret="Service-Pass-1")
        own, other = credentials(system, [service.upper(), victim])
        with connector_for(system) as connector:
            results = connector.revoke_many([own, other])
        assert results[other.pk] is None
        assert results[own.pk].permanent and "Sundown binds as" in results[own.pk].message
        assert samba_dc.can_bind(service, "Service-Pass-1")
        samba_dc.set_uac(victim, NORMAL_ACCOUNT)


def test_names_compare_without_case_and_what_ad_never_showed_is_missing(samba_dc, ad_system):
    sam = samba_dc.add_user()
    dn = samba_dc.dn(sam)
    system = ad_system()
    upper, by_dn, by_upn, never = credentials(
        system, [sam.upper(), dn, f"{sam}@sundown.test", "neverthere1"]
    )
    with connector_for(system) as connector:
        assert connector.missing([upper, by_dn, by_upn, never]) == {
            by_dn.pk: [sam],  # a DN or user@domain is not the identifier, but close
            by_upn.pk: [sam],
            never.pk: [],
        }
        errors = connector.revoke_many([by_dn, by_upn])
        assert all(e.permanent and "not a sAMAccountName" in e.message for e in errors.values())
        with pytest.raises(ConnectorError):
            connector.still_active([by_dn])
        assert connector.still_active([upper]) == {upper.pk}
        connector.revoke(upper)
        assert connector.still_active([upper]) == set()
        assert connector.missing([upper]) == {}  # disabled is not missing
    assert not samba_dc.can_bind(sam)


def test_an_account_outside_base_dn_is_not_touched(samba_dc, ad_system):
    outside = samba_dc.add_user(ou=f"CN=Users,{samba_dc.base}")
    (credential,) = credentials(ad_system(), [outside])
    with connector_for(credential.system) as connector:
        assert set(connector.missing([credential])) == {credential.pk}
        connector.revoke(credential)  # not under base_dn: not found, nothing changed
    assert samba_dc.can_bind(outside)


def test_batch_of_thirty_is_one_lookup_one_modify_each_and_one_verify(
    samba_dc, ad_system, monkeypatch
):
    names = [samba_dc.add_user() for _ in range(30)]
    system = ad_system()
    creds = credentials(system, names)
    with connector_for(system) as connector:
        assert connector.still_active(creds) == {c.pk for c in creds}
        searches = CallCounter(monkeypatch, ldap3.Connection, "search")
        modifies = CallCounter(monkeypatch, ldap3.Connection, "modify")
        assert set(connector.revoke_many(creds).values()) == {None}
        assert connector.still_active(creds) == set()
    assert modifies.calls == 30  # LDAP has no batch write
    assert searches.calls == 2  # one lookup, one verify read
    assert not any(samba_dc.can_bind(n) for n in names[:3])


def test_list_accounts_reads_state_mail_groups_and_last_logon_page_by_page(
    samba_dc, ad_system, monkeypatch
):
    group = samba_dc.add_group()
    used = samba_dc.add_user(mail="jdoe@acme.example", groups=[group])
    disabled = samba_dc.add_user()
    samba_dc.set_uac(disabled, NORMAL_ACCOUNT | 0x2)
    assert samba_dc.can_bind(used)  # AD records the logon in lastLogonTimestamp
    monkeypatch.setattr(directory, "PAGE_SIZE", 1)
    searches = CallCounter(monkeypatch, ldap3.Connection, "search")
    with connector_for(ad_system()) as connector:
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert searches.calls >= len(accounts) >= 2  # one page per entry was asked for
    assert accounts[used].active is True
    assert accounts[used].email == "jdoe@acme.example"
    assert accounts[used].groups == (group,)
    assert accounts[used].last_login_at is not None
    assert accounts[disabled].active is False
    assert accounts[disabled].detail.startswith("disabled, CN=")
    assert accounts[disabled].last_login_at is None
    # AD's own built-ins are not vendor accounts to reconcile.
    assert not {"Administrator", "krbtgt", "Guest"} & set(accounts)


def test_orphans_are_attributed_by_ou_and_group(samba_dc, ad_system, agency):
    """The identifier is the logon name, so the OU comes from the account's DN."""
    acme, beta = VendorFactory(agency=agency), VendorFactory(agency=agency)
    group = samba_dc.add_group()
    in_ou = samba_dc.add_user()
    in_group = samba_dc.add_user(groups=[group])
    AccountPattern.objects.create(vendor=acme, kind="dn_suffix", value=samba_dc.vendors)
    AccountPattern.objects.create(vendor=beta, kind="group", value=group.upper())
    system = ad_system()
    run, _ = reconciliation_request(
        actor=Actor.system("tests"), system=system, trigger="manual", enqueue=False
    )
    run = reconciliation_run(run_id=run.pk)
    assert run.status == "succeeded", run.error
    orphans = {f.account: f for f in Finding.objects.filter(system=system, kind="orphan")}
    assert orphans[in_ou].vendor_id == acme.pk
    assert orphans[in_ou].evidence["attributed_by"] == [f"dn_suffix:{samba_dc.vendors.lower()}"]
    # Under the OU and in beta's group: two vendors match, so neither is named.
    assert orphans[in_group].vendor_id is None and orphans[in_group].evidence["ambiguous"]


# Transport -------------------------------------------------------------------------
def test_plain_ldap_fails_honestly_with_strongerauthrequired(samba_dc, ad_system):
    (credential,) = credentials(ad_system(url=f"ldap://{samba_dc.ip}"), [samba_dc.add_user()])
    with pytest.raises(ConnectorError) as caught, connector_for(credential.system) as c:
        c.revoke(credential)
    assert caught.value.permanent
    assert "strongerAuthRequired" in caught.value.message
    assert "ldaps://" in caught.value.message


def test_start_tls_with_the_directory_ca(samba_dc, ad_system):
    sam = samba_dc.add_user()
    system = ad_system(url=f"ldap://{samba_dc.ip}", start_tls=True)
    (credential,) = credentials(system, [sam])
    with connector_for(system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert not samba_dc.can_bind(sam)


@pytest.mark.parametrize(
    "config",
    [
        {"tls_ca": TestCA("Somebody else's CA").pem},  # a CA that did not issue it
        {"tls_ca": ""},  # the system trust store, which has never heard of it
        {"url": "other-address"},  # a certificate that does not name this address
        {"url": "other-address", "start_tls": True},
    ],
    ids=["wrong-ca", "trust-store", "wrong-host", "wrong-host-starttls"],
)
def test_a_certificate_that_fails_validation_is_refused_permanently(samba_dc, ad_system, config):
    sam = samba_dc.add_user()
    if config.get("url") == "other-address":
        scheme = "ldap" if config.get("start_tls") else "ldaps"
        config = {**config, "url": f"{scheme}://{samba_dc.other_ip}"}
    system = ad_system(**config)
    (credential,) = credentials(system, [sam])
    for call in ("revoke_many", "still_active", "list_accounts"):
        with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
            getattr(connector, call)(*(() if call == "list_accounts" else ([credential],)))
        assert caught.value.permanent, call
        assert "TLS certificate was not accepted" in caught.value.message
        assert "tls_ca" in caught.value.message
    assert samba_dc.can_bind(sam)


def test_tls_verify_false_is_the_only_way_around_validation(samba_dc, ad_system):
    sam = samba_dc.add_user()
    system = ad_system(url=f"ldaps://{samba_dc.other_ip}", tls_ca=TestCA().pem, tls_verify=False)
    (credential,) = credentials(system, [sam])
    with connector_for(system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert not samba_dc.can_bind(sam)
    with pytest.raises(ConnectorError, match="tls_verify must be true or false") as caught:
        connector_for(ad_system(tls_verify="no"))
    assert caught.value.permanent


def test_the_ca_may_come_from_a_file_on_the_workers(samba_dc, ad_system, tmp_path):
    ca_file = tmp_path / "agency-ca.pem"
    ca_file.write_text(samba_dc.ca.pem)
    sam = samba_dc.add_user()
    (credential,) = credentials(ad_system(tls_ca="", tls_ca_file=str(ca_file)), [sam])
    with connector_for(credential.system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert not samba_dc.can_bind(sam)


def test_a_ca_that_is_not_pem_is_a_permanent_config_error(ad_system):
    for config in ({"tls_ca": "not a certificate"}, {"tls_ca_file": "/nonexistent/ca.pem"}):
        with pytest.raises(ConnectorError) as caught:
            connector_for(ad_system(**{"tls_ca": "", **config}))
        assert caught.value.permanent


def test_the_uac_bit_helpers():
    assert ad.filetime("0") is None and ad.filetime(None) is None
    assert ad.filetime("134410784501463850").year == 2026
