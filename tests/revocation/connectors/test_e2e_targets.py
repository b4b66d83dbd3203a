"""End to end through a real Celery worker (with beat): a contract ends, and the
credentials it covered die on real targets: a Redis ACL user is gone (and its open
connection with it), an LDAP bind with the old password fails, an Active Directory
account is disabled (its bind fails with data 533), a SCIM user is inactive; each
credential is verified revoked with exactly one audit event."""

import datetime as dt

import pytest
import redis
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from access.models import Credential
from audit.models import AuditEvent
from tests.factories import ContractFactory, CredentialFactory
from tests.revocation.connectors.servers import LOOPBACK, REDIS_PORT, redis_admin
from tests.revocation.helpers import Worker, wait_for
from vendors.models import Contract

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(slapd, scim_server, samba_dc):
    # The target servers start first: the worker must find them up.
    with Worker(beat=True, concurrency=2) as running:
        yield running


def test_contract_ending_now_revokes_redis_ldap_ad_and_scim_accounts(
    worker,
    vendor,
    slapd,
    scim_server,
    samba_dc,
    redis_users,
    redis_system,
    ldap_system,
    ad_system,
    scim_system,
):
    (redis_name,) = redis_users()
    ldap_dn = slapd.add_user()
    ad_name = samba_dc.add_user()
    scim_id = scim_server.add_user()
    redis_session = redis.Redis(
        host=LOOPBACK,
        port=REDIS_PORT,
        username=redis_name,
        password="vendor-pass-1",
        retry=Retry(NoBackoff(), 0),
    )
    redis_session.ping()

    contract = ContractFactory(vendor=vendor)
    # Ends two seconds from now: the beat's sweep, not the test, notices the end.
    Contract.objects.filter(pk=contract.pk).update(
        access_ends_at=timezone.now() + dt.timedelta(seconds=2)
    )
    targets = [
        (redis_system(on_revoke="delete"), redis_name, Credential.Kind.CACHE_USER),
        (ldap_system(), ldap_dn, Credential.Kind.DIRECTORY_ACCOUNT),
        (ad_system(), ad_name, Credential.Kind.DIRECTORY_ACCOUNT),
        (scim_system(), scim_id, Credential.Kind.SAAS_ACCOUNT),
    ]
    credentials = [
        CredentialFactory(
            vendor=vendor, system=system, external_id=eid, kind=kind, contracts=[contract]
        )
        for system, eid, kind in targets
    ]

    def statuses():
        pks = [c.pk for c in credentials]
        return dict(Credential.objects.filter(pk__in=pks).values_list("system__kind", "status"))

    wait_for(
        lambda: set(statuses().values()) == {"revoked"},
        timeout=45,
        message=f"{statuses()} {worker.log()}",
    )

    # Redis: the ACL user is gone, and so is the connection that was open.
    assert redis_admin().acl_getuser(redis_name) is None
    with pytest.raises(redis.AuthenticationError):
        redis_session.ping()
    # LDAP: a real bind with the old password fails.
    assert not slapd.can_bind(ldap_dn)
    # Active Directory: the account is disabled, and AD says so to the vendor.
    bound, message = samba_dc.bind(ad_name)
    assert not bound and "data 533" in message
    # SCIM: the user is inactive.
    assert scim_server.user(scim_id)["active"] is False
    for credential in credentials:
        assert (
            AuditEvent.objects.filter(
                action="credential.revoked",
                target_type="access.credential",
                target_id=str(credential.pk),
            ).count()
            == 1
        )
