"""CSV import as a person reads it: every problem of every row, in plain words (never
Django's '__all__'), extra columns refused by name, and the limits on the page."""

import pytest
from django.urls import reverse

from tests.dashboard.test_workflows import _csv, _import
from vendors.models import Contract

pytestmark = pytest.mark.django_db
HEADER = "vendor,reference,title,start_date,end_date,grace_days,procurement_contact_email"


def _post(client, agency, text):
    from io import BytesIO

    data = BytesIO(text.encode())
    data.name = "contracts.csv"
    return client.post(reverse("contract_import"), {"file": data, "agency": agency.slug})


def test_every_problem_of_a_row_is_listed(procurement_client, estate, agency, tasks_run_on_commit):
    upload = _csv(
        [
            "HRB-404,IMP-1,Everything wrong,01/01/2026,,x,",
            "HRB-1,IMP-2,Start after end,2027-01-01,2026-01-01,0,",
            "HRB-1,ACME-2026,Taken reference,2026-01-01,2027-01-01,0,",
        ]
    )
    html = _import(procurement_client, agency, upload, tasks_run_on_commit).content.decode()
    assert "__all__" not in html
    first = html.split('<td data-label="Line">2</td>')[1].split("</tr>")[0]
    for problem in (
        "vendor: no vendor &#x27;HRB-404&#x27;",
        "start_date: &#x27;01/01/2026&#x27; is not a date",
        "end_date: empty is not a date",
        "grace_days: &#x27;x&#x27; is not a whole number.",
    ):
        assert problem in first, problem
    second = html.split('<td data-label="Line">3</td>')[1].split("</tr>")[0]
    assert "end_date: The end date must not be before the start date." in second
    third = html.split('<td data-label="Line">4</td>')[1].split("</tr>")[0]
    assert "reference: Acme Data Services already has a contract &#x27;ACME-2026&#x27;." in third
    assert not Contract.objects.filter(reference__startswith="IMP").exists()


def test_extra_columns_are_refused_by_name(procurement_client, estate, agency):
    response = _post(
        procurement_client,
        agency,
        f"{HEADER},end date\nHRB-1,IMP-1,x,2026-01-01,2027-01-01,0,,2028-01-01\n",
    )
    assert response.status_code == 400
    assert "Unknown column(s): &#x27;end date&#x27;" in response.content.decode()
    long_line = _post(
        procurement_client, agency, f"{HEADER}\nHRB-1,IMP-1,x,2026-01-01,2027-01-01,0,,oops\n"
    )
    assert long_line.status_code == 400
    assert "Line 2 has more values than the header has columns." in long_line.content.decode()
    assert not Contract.objects.filter(reference="IMP-1").exists()


def test_the_limits_are_on_the_page(procurement_client, estate, agency, monkeypatch):
    page = procurement_client.get(reverse("contract_import")).content.decode()
    assert "5000 rows" in page and "10 MB" in page and "data-busy-form" in page
    monkeypatch.setattr("dashboard.views.contracts.MAX_IMPORT_ROWS", 2)
    rows = "\n".join(f"HRB-1,IMP-{i},x,2026-01-01,2027-01-01,0," for i in range(3))
    response = _post(procurement_client, agency, f"{HEADER}\n{rows}\n")
    assert "At most 2 rows per import; this file has 3." in response.content.decode()
