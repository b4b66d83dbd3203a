import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from tests.factories import UserFactory
from vendors.models import Agency
from vendors.permissions import roles_of

pytestmark = pytest.mark.django_db


def test_create_agency_and_grant_role():
    call_command(
        "create_agency", "Ministry of Transport", "transport", "--time-zone", "Europe/Paris"
    )
    agency = Agency.objects.get(slug="transport")
    assert agency.time_zone == "Europe/Paris"
    user = UserFactory(username="ines")
    call_command("grant_role", "ines", "transport", "auditor")
    assert roles_of(user, agency) == ["auditor"]
    call_command("grant_role", "ines", "transport", "auditor", "--revoke")
    assert roles_of(user, agency) == []
    actions = list(AuditEvent.objects.values_list("action", "actor_name"))
    assert actions == [
        ("agency.created", "system:manage.py"),
        ("agency.role_granted", "system:manage.py"),
        ("agency.role_revoked", "system:manage.py"),
    ]


def test_commands_report_bad_input():
    with pytest.raises(CommandError, match="time zone"):
        call_command("create_agency", "X", "x", "--time-zone", "Nowhere/Land")
    with pytest.raises(CommandError):
        call_command("grant_role", "nobody", "x", "auditor")
    assert not Agency.objects.exists()


def test_admin_is_read_only_for_domain_models(admin_user):
    from tests.factories import ContractFactory
    from tests.sessions import signed_in

    admin_client = signed_in(admin_user)  # superusers pass TOTP like officers
    contract = ContractFactory()
    assert admin_client.get("/admin/vendors/vendor/").status_code == 200
    assert admin_client.get(f"/admin/vendors/contract/{contract.pk}/change/").status_code == 200
    assert admin_client.get("/admin/vendors/vendor/add/").status_code == 403
    response = admin_client.post(
        f"/admin/vendors/contract/{contract.pk}/change/", {"reference": "changed"}
    )
    assert response.status_code == 403
    contract.refresh_from_db()
    assert contract.reference != "changed"
