"""Use after the contract end, recorded on every target that can tell.

A registered account whose every contract has ended logs in: with a session the
target shows (PostgreSQL pg_stat_activity, MariaDB PROCESSLIST, Redis CLIENT LIST,
sshd's ExposeAuthInfo) or a login it records (OpenLDAP's lastbind authTimestamp). One
pass records a critical ``used_after_contract_end`` finding (audited) and the
credential's last use. SCIM and htpasswd targets show neither sessions nor logins: their
logins reach Sundown from log shippers (tests/findings/test_usage_events.py, and the
SCIM case below).
"""

import contextlib
import datetime as dt

import psycopg2
import pymysql
import pytest
import redis
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import api_token_create
from audit.actor import Actor
from audit.models import AuditEvent
from findings.models import Finding, ReconciliationRun
from findings.reconciliation import reconciliation_request, reconciliation_run
from tests.factories import ContractFactory, UserFactory
from tests.revocation.connectors.servers import LOOPBACK, MARIADB_PORT, REDIS_PORT, credentials
from tests.revocation.connectors.targets import TARGETS, VENDOR_PASSWORD, Target
from tests.revocation.helpers import PG
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@contextlib.contextmanager
def postgres_session(target, external_id):
    conn = psycopg2.connect(
        host=PG["host"],
        port=PG["port"],
        user=external_id,
        password=VENDOR_PASSWORD,
        dbname="postgres",
    )
    try:
        yield
    finally:
        conn.close()


@contextlib.contextmanager
def mariadb_session(target, external_id):
    conn = pymysql.connect(
        host=LOOPBACK,
        port=MARIADB_PORT,
        user=external_id.rpartition("@")[0],
        password=VENDOR_PASSWORD,
        connect_timeout=5,
    )
    try:
        yield
    finally:
        conn.close()


@contextlib.contextmanager
def redis_session(target, external_id):
    client = redis.Redis(
        host=LOOPBACK, port=REDIS_PORT, username=external_id, password=VENDOR_PASSWORD
    )
    try:
        assert client.ping()
        yield
    finally:
        client.close()


@contextlib.contextmanager
def ssh_session(target, external_id):
    import time

    client = target.sshd.connect(external_id)
    try:
        client.exec_command("sleep 60")
        time.sleep(0.5)  # the session's processes exist
        yield
    finally:
        client.close()


@contextlib.contextmanager
def ldap_login(target, external_id):
    # A bind, then gone: the directory records when (lastbind), not who is connected.
    assert target.slapd.can_bind(external_id, VENDOR_PASSWORD)
    yield


SESSIONS = {
    "postgres-nologin": postgres_session,
    "mariadb-lock": mariadb_session,
    "redis-disable": redis_session,
    "ssh-remove": ssh_session,
    "ldap-password": ldap_login,
}


@pytest.fixture(params=list(SESSIONS))
def target(request, agency) -> Target:
    cls, mode = TARGETS[request.param]
    target = cls(request, agency, **mode)
    target.session = SESSIONS[request.param]
    return target


def reconcile(system) -> ReconciliationRun:
    run, _ = reconciliation_request(actor=ACTOR, system=system, trigger="manual", enqueue=False)
    run = reconciliation_run(run_id=run.pk)
    assert run is not None and run.status == "succeeded", run and run.error
    return run


def end_contracts(credential):
    ended = ContractFactory(
        vendor=credential.vendor,
        start_date=timezone.localdate() - dt.timedelta(days=100),
        end_date=timezone.localdate() - dt.timedelta(days=2),
        access_ends_at=timezone.now() - dt.timedelta(days=1),
        status="ended",
    )
    credential.contracts.set([ended])


def test_use_after_the_contract_end_is_recorded(target, django_capture_on_commit_callbacks):
    system = target.system()
    ended_id, running_id = target.account(), target.account()
    ended, running = credentials(system, [ended_id, running_id])
    end_contracts(ended)
    with target.session(target, ended_id), target.session(target, running_id):
        run = reconcile(system)
    used = Finding.objects.filter(system=system, kind="used_after_contract_end")
    assert [f.credential_id for f in used] == [ended.pk], [f.summary for f in used]
    finding = used.get()
    assert finding.severity == "critical" and finding.status == "open"
    assert "every contract ended" in finding.summary
    assert AuditEvent.objects.filter(action="finding.opened", target_id=str(finding.pk)).exists()
    assert run.used_after_end == 1
    for credential in (ended, running):
        credential.refresh_from_db()
        assert credential.last_used_at is not None, credential.external_id

    # The next pass sees it again (a live session) or not (a login already judged):
    # either way no second finding.
    with target.session(target, ended_id):
        reconcile(system)
    assert Finding.objects.filter(system=system, kind="used_after_contract_end").count() == 1


@pytest.fixture(params=["scim-deactivate", "htpasswd-disable"])
def quiet_target(request, agency) -> Target:
    cls, mode = TARGETS[request.param]
    return cls(request, agency, **mode)


def test_targets_without_sessions_learn_of_logins_from_log_shippers(quiet_target, agency):
    system = quiet_target.system()
    account = quiet_target.account()
    (credential,) = credentials(system, [account])
    end_contracts(credential)
    run = reconcile(system)  # the target lists the account but cannot tell who logs in
    assert run.matched == 1 and run.sessions == 0
    assert not Finding.objects.filter(system=system, kind="used_after_contract_end")

    shipper = UserFactory(username=f"shipper-{system.pk}")
    role_grant(user=shipper, agency=agency, role="integration")
    _, key = api_token_create(actor=ACTOR, user=shipper, name="log shipper")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    login = {
        "id": "proxy-log-1",
        "system": system.pk,
        "account": account,
        "occurred_at": timezone.now().isoformat(),
        "source_address": "192.0.2.10",
    }
    response = client.post("/api/v1/usage-events/", {"events": [login]}, format="json")
    assert response.status_code == 200, response.content
    finding = Finding.objects.get(system=system, kind="used_after_contract_end")
    assert finding.credential_id == credential.pk and finding.severity == "critical"
    credential.refresh_from_db()
    assert credential.last_used_at is not None
