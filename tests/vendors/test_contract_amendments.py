"""A terminated contract is not quietly re-extended, and every end-date change says why
(issue 10: a terminated contract re-extended with an empty reason kept access for years)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.api.conftest import token_client
from tests.factories import ContractFactory, UserFactory
from vendors import services
from vendors.models import Contract
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db


def test_a_terminated_contract_cannot_be_extended(actor, agency):
    contract = ContractFactory(vendor__agency=agency)
    services.contract_terminate(
        actor=actor,
        contract=contract,
        effective_date=timezone.localdate() + dt.timedelta(days=10),
        reason="breach",
    )
    with pytest.raises(ValidationError) as caught:
        services.contract_change_end_date(
            actor=actor,
            contract=contract,
            end_date=timezone.localdate() + dt.timedelta(days=2000),
            reason="quietly",
        )
    assert "end_date" in caught.value.message_dict
    contract.refresh_from_db()
    assert contract.status == Contract.Status.TERMINATED
    assert contract.end_date == timezone.localdate() + dt.timedelta(days=10)
    # Shortening it further is still possible, with a reason.
    services.contract_change_end_date(
        actor=actor,
        contract=contract,
        end_date=timezone.localdate() + dt.timedelta(days=5),
        reason="earlier",
    )


def test_an_end_date_change_needs_a_reason(actor, agency):
    contract = ContractFactory(vendor__agency=agency)
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as caught:
            services.contract_change_end_date(
                actor=actor,
                contract=contract,
                end_date=contract.end_date + dt.timedelta(days=30),
                reason=reason,
            )
        assert "reason" in caught.value.message_dict


def test_the_api_asks_for_change_reason(agency):
    user = UserFactory(username="hr-sync")
    role_grant(user=user, agency=agency, role="integration")
    api = token_client(user)
    contract = ContractFactory(vendor__agency=agency)
    response = api.patch(
        f"/api/v1/contracts/{contract.pk}/",
        {"end_date": str(contract.end_date + dt.timedelta(days=30))},
    )
    assert response.status_code == 400
    assert "change_reason" in response.json()["error"]["fields"]
