"""The claim's lean rows (leases.claimed_instances): the same instances a full read
gives, and no batch outcome reads a field the claim left out."""

import pytest
from django.core import mail
from django.db.models.signals import post_init, pre_init

from access.models import Credential, System
from revocation import services
from revocation.services import leases
from tests.factories import SystemFactory
from tests.revocation.conftest import role_can_login
from tests.revocation.helpers import free_port
from tests.revocation.test_engine import fast_ladder, request  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loads(monkeypatch):
    """Every field a Credential loads after its read (a deferred field's first access)."""
    loaded: list[str] = []
    original = Credential.refresh_from_db

    def record(self, using=None, fields=None, from_queryset=None):
        loaded.extend(fields or ["<all>"])
        return original(self, using=using, fields=fields, from_queryset=from_queryset)

    monkeypatch.setattr(Credential, "refresh_from_db", record)
    return loaded


def test_nothing_listens_to_credential_init():
    # claimed_instances skips Model.__init__, and with it these two signals.
    assert not pre_init.has_listeners(Credential)
    assert not post_init.has_listeners(Credential)


def test_a_claimed_instance_is_what_a_full_read_gives(pg_system, make_credentials):
    (credential,) = make_credentials(pg_system, ["claimed_role"])
    request([credential])
    values = Credential.objects.filter(pk=credential.pk).values_list(*leases.CLAIM_FIELDS)
    (lean,) = leases.claimed_instances(values)
    full = Credential.objects.get(pk=credential.pk)

    assert type(lean) is Credential and lean == full and lean.pk == full.pk
    assert {name: getattr(lean, name) for name in leases.CLAIM_FIELDS} == {
        name: getattr(full, name) for name in leases.CLAIM_FIELDS
    }
    assert not lean._state.adding and lean._state.db == "default"
    assert lean.get_deferred_fields() == {
        f.attname for f in Credential._meta.concrete_fields
    } - set(leases.CLAIM_FIELDS)
    assert str(lean) == str(full)
    # A field left out still reads right, from the database, on first access.
    assert lean.revocation_reason == full.revocation_reason == "contract ended"
    assert lean.system == pg_system


def test_a_revoked_batch_reads_no_field_the_claim_left_out(
    pg_system, pg_roles, make_credentials, loads
):
    names = pg_roles(3)
    credentials = make_credentials(pg_system, names)
    request(credentials)
    result = services.revocation_batch_run(system_id=pg_system.pk, worker="test")
    assert sorted(result.revoked) == sorted(c.pk for c in credentials)
    assert not any(role_can_login(name) for name in names)
    assert loads == []


def test_a_failed_batch_and_its_alert_read_no_field_the_claim_left_out(
    settings, pg_system, make_credentials, loads
):
    settings.SUNDOWN_REVOCATION_MAX_ATTEMPTS = 1  # the first try is the last
    pg_system.config = {**pg_system.config, "port": free_port(), "connect_timeout": 1}
    pg_system.save()
    (credential,) = make_credentials(pg_system, ["nobody_home"])
    request([credential])
    result = services.revocation_batch_run(system_id=pg_system.pk)
    assert result.failed == [credential.pk]
    (alert,) = mail.outbox
    assert "nobody_home" in alert.body
    assert loads == []


def test_a_hand_off_and_its_mail_read_no_field_the_claim_left_out(agency, make_credentials, loads):
    system = SystemFactory(agency=agency, kind=System.Kind.MANUAL, owner_email="ops@x.example")
    (credential,) = make_credentials(system, ["archive-share-acme"])
    request([credential])
    assert services.revocation_batch_run(system_id=system.pk).handed_off == [credential.pk]
    (notice,) = mail.outbox
    assert "archive-share-acme" in notice.body
    assert loads == []
