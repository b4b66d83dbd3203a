"""axe-core (npm, served to this test only) on every dashboard page, in every role, at
1280 and 375 px: no serious or critical WCAG 2.1 A/AA violation anywhere.

Pages come from walking dashboard.urls, so a new page is checked without touching this
file; a pattern with an object id takes one from the estate below (a new kind of object
needs an entry in ``_ids``, and the test says so). POST-only endpoints (405) and
downloads (not HTML) are skipped. Signed out, the walk also reads the pages that need no
account: the sign-in, and a vendor contact's attestation link (its form, the thanks after
it and the refusal of the used link). One browser, and one context and page per role,
keep the whole walk within a minute or two; each page is loaded once and checked at
both widths.
"""

import datetime as dt
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from access.models import Credential, System
from audit.actor import Actor
from findings.models import AccountPattern, Finding, VendorNetwork
from findings.reconciliation import reconciliation_request
from jobs.models import Job
from jobs.runners import job_run
from jobs.services import job_start
from reviews.attestation import attestation_send
from reviews.services import review_campaign_open
from revocation.connectors.base import ConnectorError
from revocation.models import ManualTask
from revocation.services import revocation_batch_run
from revocation.services.breaker import outage_open
from revocation.services.requests import credential_revoke
from tests.factories import (
    AgencyFactory,
    ContractFactory,
    CredentialFactory,
    SystemFactory,
    UserFactory,
    VendorFactory,
)
from vendors.permissions import role_grant
from vendors.services import contract_terminate, vendor_update

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
WIDTHS = (1280, 375)
# A page's first request imports its views and templates: seconds on a busy machine (no
# longer every connector: the system form reads revocation.connectors.meta), so one slow
# answer must not fail the walk; 60 s is far beyond any page on a quiet one.
SLOW_MS = 60_000
SHOTS_WANTED = bool(os.environ.get("SUNDOWN_SCREENSHOTS"))
SHOT_ROLES = ("anonymous", "officer", "clerk", "enrolling officer")
# Dashboard routes that are not pages a person reads (none needed so far: POST-only
# verbs answer 405 to GET and downloads are not HTML, both detected at run time).
# What axe 4.14 no longer checks under WCAG tags: ids are unique, and every id a label
# or an aria-* reference names exists (Django's help-text ids once pointed nowhere).
ID_CHECK = r"""() => {
    const problems = [];
    const counts = new Map();
    for (const el of document.querySelectorAll('[id]')) {
        counts.set(el.id, (counts.get(el.id) || 0) + 1);
    }
    for (const [id, n] of counts) {
        if (n > 1) problems.push(`duplicate id "${id}" (${n} elements)`);
    }
    for (const attr of ['aria-describedby', 'aria-labelledby', 'aria-controls']) {
        for (const el of document.querySelectorAll(`[${attr}]`)) {
            for (const ref of el.getAttribute(attr).split(/\s+/).filter(Boolean)) {
                if (!document.getElementById(ref)) problems.push(`${attr}="${ref}" names nothing`);
            }
        }
    }
    for (const label of document.querySelectorAll('label[for]')) {
        if (!document.getElementById(label.htmlFor)) {
            problems.push(`label for="${label.htmlFor}" names nothing`);
        }
    }
    return problems;
}"""
# Tables wider than their scroll box: columns cut off (on a phone, or home's half-width
# tables at 1280 px). Only content counts (a cell or its text past the box's edge): a
# collapsed border's outer half spills a few px over any full-width table. Every table
# stacks at 375 px (USWDS usa-table--stacked, a data-label per cell) and keeps every
# column in view.
TABLE_FIT = r"""() => [...document.querySelectorAll('.usa-table-container--scrollable')]
    .map(box => {
        const edge = box.getBoundingClientRect().right + 1;
        const out = [...box.querySelectorAll('th, td, a, span, code, time, div, pre')]
            // A closed <details> shows its summary only (Chrome lays out the rest anyway).
            .filter(el => !el.closest('details:not([open])') || el.closest('summary'))
            .filter(el => el.getBoundingClientRect().width > 0)
            .filter(el => el.getBoundingClientRect().right > edge);
        if (!out.length) return null;
        const table = box.querySelector('table');
        const name = (table && (table.dataset.testid || table.caption?.textContent.trim()))
            || 'a table';
        const first = out[0];
        return `${name} (${first.tagName.toLowerCase()} "${first.textContent.trim().slice(0, 30)}"`
            + ` ends at ${Math.round(first.getBoundingClientRect().right)} px)`;
    })
    .filter(Boolean)"""
LONG_NAME = "Consolidated " + "Regional Infrastructure and Data Processing Services " * 4
LONG_NAME = LONG_NAME[:200]


def _persona(username, agency, role):
    user = UserFactory(username=username)
    role_grant(user=user, agency=agency, role=role)
    return user


@pytest.fixture
def estate():
    health = AgencyFactory(name="Federal Ministry of Health", slug="health")
    tax = AgencyFactory(name="Regional Tax Office", slug="tax")
    users = {
        "officer": _persona("officer", health, "security_officer"),
        "clerk": _persona("clerk", health, "procurement"),
        "auditor": _persona("auditor", health, "auditor"),
        "integration": _persona("integration", health, "integration"),
        "superuser": UserFactory(username="root", is_superuser=True, is_staff=True),
        # Signed in with a password only: every page sends this one to TOTP enrolment.
        "enrolling officer": _persona("newofficer", health, "security_officer"),
    }
    actor = Actor.for_user(users["officer"], source_ip="192.0.2.10", request_id="axe")
    today = timezone.now().astimezone(health.tz).date()
    acme = VendorFactory(
        agency=health,
        name="Acme Data Services",
        registration_number="HRB-1",
        security_contact_name="Sam Sec",
        security_contact_email="security@acme.example",
    )
    VendorFactory(agency=health, name=LONG_NAME, registration_number="HRB-LONG")
    running = ContractFactory(vendor=acme, reference="ACME-2026", title="Data processing")
    ending = ContractFactory(vendor=acme, reference="ACME-SOON", end_date=today)
    old = ContractFactory(
        vendor=acme,
        reference="ACME-OLD",
        start_date=today - dt.timedelta(days=400),
        end_date=today - dt.timedelta(days=3),
        access_ends_at=timezone.now() - dt.timedelta(days=2),
        status="ended",
    )
    desk = SystemFactory(agency=health, name="citizen-helpdesk", kind=System.Kind.MANUAL)
    db = SystemFactory(
        agency=health,
        name="citizen-db",
        kind=System.Kind.POSTGRES,
        config={"host": "db.internal", "port": 5432, "dbname": "citizens", "user": "sundown"},
        estimated_records=18_000_000,
    )
    live = CredentialFactory(
        vendor=acme, system=db, external_id="acme_rw", contracts=[running], holder="Ann Example"
    )
    CredentialFactory(vendor=acme, system=desk, external_id="acme_old", contracts=[old])
    CredentialFactory(
        vendor=acme,
        system=db,
        external_id="acme_broken",
        contracts=[ending],
        status=Credential.Status.FAILED,
        last_error="permission denied to drop role",
    )
    manual = CredentialFactory(vendor=acme, system=desk, external_id="acme_agent_1")
    credential_revoke(actor=actor, credential=manual, reason="Contract ended")
    revocation_batch_run(system_id=desk.pk, worker="axe")
    vendor_update(actor=actor, vendor=acme, risk_tier="high")
    contract_terminate(actor=actor, contract=ending, reason="Breach of the data clause")
    finding = Finding.objects.create(
        kind="drift",
        severity="critical",
        system=db,
        account="acme_rw",
        vendor=acme,
        credential=live,
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    # citizen-db's target stopped answering: home and the system's page show the outage.
    with transaction.atomic():
        outage_open(
            system=db,
            error=ConnectorError("connection refused (db.internal:5432)", unreachable=True),
            deferred=1,
        )
    # The other agency, so agency pickers and lists have more than one row for the superuser.
    zeta = VendorFactory(agency=tax, name="Zeta Secret Contractors")
    CredentialFactory(vendor=zeta, external_id="zeta_admin")
    ids = {
        "vendors": acme.pk,
        "contracts": running.pk,
        "systems": db.pk,
        "credentials": manual.pk,  # pending, with an attempt and a manual task
        "findings": finding.pk,
        "tasks": ManualTask.objects.get(credential=manual).pk,
        "patterns": AccountPattern.objects.create(vendor=acme, kind="prefix", value="acme_").pk,
        "networks": VendorNetwork.objects.create(vendor=acme, cidr="192.0.2.0/24").pk,
        "attestations": acme.pk,  # a vendor's roster attestation pages
        "campaigns": review_campaign_open(
            actor=actor,
            agency=health,
            name="Quarterly access review",
            deadline=timezone.now() + dt.timedelta(days=14),
        ).pk,
    }
    # Jobs (jobs app), done here without a worker: an evidence pack, and an import whose
    # rows were all bad (listed on the import page's recent imports).
    pack = job_start(
        actor=Actor.for_user(users["auditor"]),
        agency=health,
        kind=Job.Kind.EVIDENCE_PACK,
        subject={"vendor": acme.pk, "contract": None, "label": acme.name},
    )
    bad_rows = [{"vendor": "HRB-404", "reference": "X-1", "start_date": "1/1/2026"}]
    bad_import = job_start(
        actor=Actor.for_user(users["clerk"]),
        agency=health,
        kind=Job.Kind.CONTRACT_IMPORT,
        subject={"file_name": "contracts.csv", "rows": 1},
        payload=json.dumps(bad_rows).encode(),
        total=1,
    )
    for job in (pack, bad_import):
        job_run(job_id=job.pk)
    ids["jobs"] = pack.pk
    # A reconciliation pass waiting for a worker: the system page shows its progress.
    reconciliation_request(actor=actor, system=db, trigger="manual", enqueue=False)
    # The vendor's security contact gets a link to a page that needs no account (config
    # urls, outside the dashboard's): the token exists only in the mail.
    mail.outbox.clear()
    attestation_send(actor=actor, vendor=acme)
    (message,) = mail.outbox
    attest_url = re.search(r"/attest/[^/\s]+/", message.body).group(0)
    return {"users": users, "ids": ids, "attest_url": attest_url}


def _routes(patterns=None, prefix=""):
    """(route, name) for every dashboard URL pattern, includes followed."""
    if patterns is None:
        patterns = get_resolver("dashboard.urls").url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def _pages(ids) -> dict[str, str]:
    """URL -> URL name, for every dashboard route; each id in a route is that of the
    estate's object named by the path segment before it ("vendors/<pk>/patterns/<id>")."""
    urls = {}
    for route, name in _routes():
        args = []
        segments = route.split("/")
        for i, segment in enumerate(segments):
            if segment.startswith("<"):
                owner = segments[i - 1]
                assert owner in ids, f"give the axe walk an object for {owner!r} ({route}) in ids"
                args.append(ids[owner])
        urls[reverse(name, args=args)] = name
    return urls


def _axe(page) -> list[dict]:
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {
                runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
            }));
        }""",
        WCAG_TAGS,
    )


def _problems(page) -> list[str]:
    """Duplicate or dangling ids and serious or critical axe violations, as they stand."""
    problems = list(page.evaluate(ID_CHECK))
    problems += [
        f"{v['id']} [{v['impact']}] {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in _axe(page)
        if v["impact"] in FAILING_IMPACTS
    ]
    return problems


def assert_axe_clean(page) -> None:
    """axe on the page as it stands (for pages no GET reaches, such as a POST's answer)."""
    page.evaluate(AXE.read_text())
    problems = _problems(page)
    assert not problems, "\n".join(problems)


def _attestation_answered(page, url: str) -> list[str]:
    """The pages an attestation link leads to after its form: the thanks (the POST's
    answer) and the refusal of the used link, each at both widths (the same document
    resized: a link works once, and the refusal must not spend the address's budget)."""
    problems = []
    page.goto(url)
    # USWDS hides the radio itself off screen; a person clicks its label.
    for label in page.locator("label[for$='-stays']").all():
        label.click()
    page.click("button:has-text('Submit attestation')")
    page.wait_for_selector("[data-testid=attestation-done]")
    for answer in ("done", "used"):
        if answer == "used":
            response = page.goto(url)
            assert response is not None and response.status == 410, answer
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            problems += [f"anonymous {width}px {url} ({answer}): {p}" for p in _problems(page)]
    return problems


def _is_page(response) -> bool:
    """A document a person reads: not a POST-only verb (405), a download (an evidence
    pack), nor an htmx fragment (the contract picker), which is checked in its page."""
    content_type = response.headers.get("content-type") or ""
    if response.status == 405 or not content_type.startswith("text/html"):
        return False
    return response.text().lstrip()[:15].lower() == "<!doctype html>"


def test_axe_every_page_every_role_both_widths(live_server, browser, signed_in_page, estate):
    pages = _pages(estate["ids"])
    # Pages without an account: the sign-in and a vendor contact's attestation link.
    public = {reverse("login"): "login", estate["attest_url"]: "attestation_page"}
    pages.update(public)
    assert len(pages) >= 20, pages
    # `make screenshots` also keeps a picture of every page at both widths, each in the
    # first role (in SHOT_ROLES order) that sees it.
    shots = Path(os.environ["SUNDOWN_SCREENSHOTS"]) / "pages" if SHOTS_WANTED else None
    shot_taken: set[tuple[str, int]] = set()
    axe_source = AXE.read_text()
    failures: list[str] = []
    runs = 0
    started = time.monotonic()
    roles: list[tuple[str, object]] = [("anonymous", None), *estate["users"].items()]
    for role, user in roles:
        # An init script, not a <script> tag: the CSP refuses inline scripts, and
        # users never get axe (it is not among the static files).
        if user is None:
            context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
            page = context.new_page()
        else:
            page = signed_in_page(user, WIDTHS[0], verified=role != "enrolling officer")
            context = page.context
        context.add_init_script(script=axe_source)
        context.set_default_timeout(SLOW_MS)
        role_pages = [
            url
            for url in (pages if user is not None else public)
            if url not in public or user is None
            if _is_page(page.request.get(live_server.url + url, max_redirects=5, timeout=SLOW_MS))
        ]
        assert role_pages, role
        # Each page is loaded once (at the first width) and checked at every width, the
        # document resized as a person turning a tablet does: a load per width doubled
        # the page loads for the same documents (225 -> 182 s for the walk on one VM).
        seen: set[str] = set()
        for url in role_pages:
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            response = page.goto(live_server.url + url)
            assert response is not None, url
            # A refusal is the same 404 page wherever it comes from, and a redirect
            # lands on a page this walk visits anyway: check each once.
            landed = "404" if response.status == 404 else urlsplit(page.url).path
            if landed in seen:
                continue
            seen.add(landed)
            name = pages[url]
            redirected = urlsplit(page.url).path != url
            wanted = shots and role in SHOT_ROLES and response.ok and not redirected
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                runs += 1
                if wanted and (name, width) not in shot_taken:
                    shot_taken.add((name, width))
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                where = f"{role} {width}px {url} ({response.status})"
                failures.extend(f"{where}: {problem}" for problem in _problems(page))
                if cut := page.evaluate(TABLE_FIT):
                    failures.append(f"{where}: cut off at {width} px: {', '.join(cut)}")
        if user is None:
            failures.extend(_attestation_answered(page, live_server.url + estate["attest_url"]))
            runs += 2 * len(WIDTHS)
        context.close()
    elapsed = time.monotonic() - started
    print(f"axe: {runs} runs in {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    assert runs >= 2 * len(WIDTHS) * len(roles), runs
