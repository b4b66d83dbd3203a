"""The credential list writes its rows by hand (api.serializers.CredentialListSerializer):
every key and value must be what the item serializer, which the schema describes, gives."""

import datetime as dt

import pytest
from django.utils import timezone

from access.models import Credential
from access.selectors import credential_list
from api.serializers import CredentialSerializer
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_list_rows_equal_the_item_serializer(agency, officer, settings):
    settings.TIME_ZONE = "Europe/Berlin"  # rendered in the current zone, as DRF does
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    contracts = [ContractFactory(vendor=vendor) for _ in range(3)]
    now = timezone.now().replace(microsecond=123456)
    CredentialFactory(vendor=vendor, system=system, contracts=contracts[:2])
    CredentialFactory(
        vendor=vendor,
        system=system,
        contracts=contracts[2:],
        holder="Jane Roe",
        privileges="SELECT on claims\nUPDATE on notes",
        issued_at=now - dt.timedelta(days=400),
        expires_at=now + dt.timedelta(days=3),
        last_used_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    CredentialFactory(
        vendor=vendor,
        system=system,
        status=Credential.Status.CONFIRMED,
        revoked_at=now,
        revoked_by="officer",
        revocation_requested_at=now - dt.timedelta(minutes=5),
        revocation_reason="Left the company",
    )
    CredentialFactory(
        vendor=vendor,
        system=system,
        status=Credential.Status.REVOKED,
        revoked_at=now,
        revoked_by="system:revocation-worker",
    )
    Credential.objects.update(last_seen_on_target_at=now, target_checked_at=now)
    CredentialFactory(vendor=vendor, system=system, status=Credential.Status.PENDING)

    rows = list(credential_list(user=officer).order_by("pk"))
    fast = CredentialSerializer(rows, many=True).data
    slow = [dict(CredentialSerializer(row).data) for row in rows]
    assert len(fast) == 5
    assert [list(row) for row in fast] == [list(row) for row in slow]  # same keys, same order
    assert [dict(row) for row in fast] == slow
    assert fast[1]["expires_at"].endswith("+01:00") or fast[1]["expires_at"].endswith("+02:00")
    assert fast[2]["status_label"] == "Revoked, confirmed by officer"


def test_list_reads_a_pages_contract_ids_in_one_query(agency, officer, django_assert_num_queries):
    # The list view drops the prefetch and the serializer reads the link table itself.
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    contracts = [ContractFactory(vendor=vendor) for _ in range(3)]
    CredentialFactory(vendor=vendor, system=system, contracts=contracts)
    CredentialFactory(vendor=vendor, system=system, contracts=contracts[1:2])
    CredentialFactory(vendor=vendor, system=system, contracts=contracts[::2])

    prefetched = list(credential_list(user=officer).order_by("pk"))
    plain = list(credential_list(user=officer).prefetch_related(None).order_by("pk"))
    with django_assert_num_queries(1):
        fast = CredentialSerializer(plain, many=True).data
    slow = [dict(CredentialSerializer(row).data) for row in prefetched]
    assert [row["contracts"] for row in fast] == [sorted(row["contracts"]) for row in slow]
    assert [{**row, "contracts": None} for row in fast] == [
        {**row, "contracts": None} for row in slow
    ]
