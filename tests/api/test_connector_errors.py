"""The API shows a connector's error only to readers of the agency's audit trail.

Revocation attempts need VIEW_AUDIT; a manual task (which every role in the agency may
list) carries the connector's report in ``detail``: those without VIEW_AUDIT read a
neutral label there, and cannot search that text either.
"""

import pytest

from revocation.models import ManualTask
from revocation.selectors import CONNECTOR_ERROR_HIDDEN
from tests.api.conftest import token_client
from tests.factories import UserFactory
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db

REFUSAL = "PostgreSQL refused: permission denied to drop role own_role"


@pytest.fixture
def failed_task(world):
    ManualTask.objects.filter(pk=world["task"].pk).update(
        reason=ManualTask.Reason.FAILED, detail=REFUSAL
    )
    return world["task"]


def _client(agency, *roles, other=None, other_role=None):
    user = UserFactory()
    for role in roles:
        role_grant(user=user, agency=agency, role=role)
    if other is not None:
        role_grant(user=user, agency=other, role=other_role)
    return token_client(user)


@pytest.mark.parametrize(
    ("roles", "sees"),
    [
        (("security_officer",), True),
        (("auditor",), True),
        (("procurement",), False),
        (("integration",), False),
    ],
)
def test_task_detail_per_role(agency, failed_task, roles, sees):
    client = _client(agency, *roles)
    one = client.get(f"/api/v1/manual-tasks/{failed_task.pk}/").json()
    listed = client.get("/api/v1/manual-tasks/").json()["results"]
    expected = REFUSAL if sees else CONNECTOR_ERROR_HIDDEN
    assert one["detail"] == expected
    assert [t["detail"] for t in listed if t["id"] == failed_task.pk] == [expected]
    # A search that matches the hidden text would be as good as reading it.
    found = client.get("/api/v1/manual-tasks/", {"search": "permission denied"}).json()
    assert [t["id"] for t in found["results"]] == ([failed_task.pk] if sees else [])
    # Revocation attempts (the connector's errors) need the audit permission at all.
    assert client.get("/api/v1/revocations/").status_code == (200 if sees else 403)


def test_auditor_elsewhere_does_not_read_this_agencys_errors(agency, other_agency, failed_task):
    client = _client(agency, "procurement", other=other_agency, other_role="auditor")
    one = client.get(f"/api/v1/manual-tasks/{failed_task.pk}/").json()
    assert one["detail"] == CONNECTOR_ERROR_HIDDEN
    found = client.get("/api/v1/manual-tasks/", {"search": "permission denied"}).json()
    assert found["results"] == []


def test_a_task_without_detail_stays_empty(agency, world):
    client = _client(agency, "procurement")
    assert client.get(f"/api/v1/manual-tasks/{world['task'].pk}/").json()["detail"] == ""
