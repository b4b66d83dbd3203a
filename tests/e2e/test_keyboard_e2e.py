"""Keyboard only: the kill switch, a contract's termination and a manual task, done with
Tab, Space and Enter alone, each focus stop visibly marked."""

import pytest

from access.models import Credential, System
from audit.actor import Actor
from revocation.models import ManualTask
from revocation.services import revocation_batch_run
from revocation.services.requests import credential_revoke
from tests.e2e.test_accessibility import assert_axe_clean
from tests.factories import (
    AgencyFactory,
    ContractFactory,
    CredentialFactory,
    SystemFactory,
    UserFactory,
    VendorFactory,
)
from vendors.models import Contract
from vendors.permissions import role_grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Outline or box-shadow: how USWDS (and the browser) mark the focused element.
FOCUS_VISIBLE = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
        || style.boxShadow !== 'none';
}"""


@pytest.fixture
def world():
    health = AgencyFactory(name="Federal Ministry of Health", slug="health")
    officer = UserFactory(username="officer")
    role_grant(user=officer, agency=health, role="security_officer")
    clerk = UserFactory(username="clerk")
    role_grant(user=clerk, agency=health, role="procurement")
    acme = VendorFactory(agency=health, name="Acme Data Services")
    running = ContractFactory(vendor=acme, reference="ACME-2026")
    desk = SystemFactory(agency=health, name="citizen-helpdesk", kind=System.Kind.MANUAL)
    CredentialFactory(vendor=acme, system=desk, external_id="acme_agent_1", contracts=[running])
    CredentialFactory(vendor=acme, system=desk, external_id="acme_agent_2", contracts=[running])
    return {"officer": officer, "clerk": clerk, "vendor": acme, "contract": running, "desk": desk}


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Tab forward until ``selector`` has the focus; every stop on the way must show it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            assert page.evaluate(FOCUS_VISIBLE), f"focus on {selector} is not visible"
            return
        tag = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        assert page.evaluate(FOCUS_VISIBLE), f"focus not visible on {tag}"
    raise AssertionError(f"{selector} not reached with {limit} presses of Tab")


def test_kill_switch_by_keyboard(live_server, signed_in_page, world):
    page = signed_in_page(world["officer"])
    page.goto(f"{live_server.url}/vendors/{world['vendor'].pk}/")
    _tab_to(page, "[data-testid=kill-switch]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=kill-switch-preview]")
    _tab_to(page, "#id_reason")
    page.keyboard.type("Vendor breach reported by CERT")
    _tab_to(page, "#id_confirm")
    page.keyboard.press("Space")
    _tab_to(page, "form.usa-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=queued for revocation")
    pending = Credential.objects.filter(vendor=world["vendor"], status="pending").count()
    assert pending == 2


def test_contract_termination_by_keyboard(live_server, signed_in_page, world):
    page = signed_in_page(world["clerk"])
    page.goto(f"{live_server.url}/contracts/{world['contract'].pk}/")
    _tab_to(page, "#id_terminate_reason")
    page.keyboard.type("Breach of the data clause")
    _tab_to(page, "form[action$='/terminate/'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # The second step says when access ends; it is a POST answer, so the axe walk of
    # the URL patterns never sees it: check it here.
    page.wait_for_selector("[data-testid=termination-plan]")
    assert_axe_clean(page)
    _tab_to(page, "form[action$='/terminate/'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    world["contract"].refresh_from_db()
    assert world["contract"].status == Contract.Status.TERMINATED
    assert "Breach of the data clause" in page.content()


def test_manual_task_by_keyboard(live_server, signed_in_page, world):
    page = signed_in_page(world["officer"])
    actor = Actor.for_user(world["officer"])
    for credential in Credential.objects.filter(vendor=world["vendor"]):
        credential_revoke(actor=actor, credential=credential, reason="Contract ended")
    revocation_batch_run(system_id=world["desk"].pk, worker="keyboard")
    task = ManualTask.objects.get(credential__external_id="acme_agent_1")
    page.goto(f"{live_server.url}/revocations/")
    # An empty note first: the error is announced in that task's card, on its field.
    _tab_to(page, f"#task-form-{task.pk} button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#id_task{task.pk}_note_error")
    _tab_to(page, f"#id_task{task.pk}_note")
    page.keyboard.type("Disabled the helpdesk login and ended its sessions")
    _tab_to(page, f"#task-form-{task.pk} button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Manual task for acme_agent_1 completed")
    task.refresh_from_db()
    assert task.status == ManualTask.Status.DONE
