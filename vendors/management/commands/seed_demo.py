"""Demo data for `make run`: two agencies, a dozen vendors, contracts, systems, credentials.

Most demo systems are placeholders: their hosts are under ``.invalid`` (RFC 6761), a
name no machine resolves, so they are labelled "demo: host does not exist" and their
revocations fail at once, saying so. One target works on any machine: the supplier
portal's htpasswd file under the first ``SUNDOWN_LOCAL_TARGET_ROOTS`` directory
(``var/targets`` in development), where a vendor's contract has ended, so the first
sweep of ``make run`` revokes that account for real and verifies it by reading the
file back (``htpasswd -v`` then refuses the vendor's password).
"""

import datetime as dt
import os
import secrets
from pathlib import Path

import bcrypt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from access.models import Credential, System
from access.services import credential_register, system_create
from audit.actor import Actor
from vendors.models import Agency
from vendors.services import agency_create, agency_grant_role, contract_create, vendor_create

DEMO_PASSWORD = "sundown-demo-pass"

AGENCIES = [
    ("Federal Ministry of Health", "health", "Europe/Berlin"),
    ("Regional Tax Administration", "tax", "Europe/Vienna"),
]
VENDORS = [
    ("Acme Data Services GmbH", "high"),
    ("Northwind Consulting AG", "medium"),
    ("Globex IT Solutions", "critical"),
    ("Initech Outsourcing", "medium"),
    ("Umbrella Records Management", "high"),
    ("Stark Cloud Hosting", "low"),
]
SYSTEMS = [
    ("Citizen records DB (legacy)", System.Kind.POSTGRES, "legacy", "restricted", 18_000_000),
    ("Staff directory", System.Kind.LDAP, "active", "confidential", 0),
    ("Case management SaaS", System.Kind.SCIM, "active", "confidential", 2_500_000),
    ("Session cache", System.Kind.REDIS, "active", "internal", 0),
    ("Archive file server", System.Kind.MANUAL, "legacy", "restricted", 9_000_000),
]
# The demo's one reachable target: basic-auth users of a supplier portal (Apache's
# AuthUserFile), in the first agency. Vendor index -> the user its engineers log in as.
PORTAL_NAME = "Supplier portal (basic auth)"
PORTAL_FILE = "supplier-portal.htpasswd"
PORTAL_PASSWORD = "vendor-demo-pass"
PORTAL_USERS = {
    0: "acme.support",  # Acme's contract ended 20 days ago: revoked by the first sweep
    1: "northwind.ops",  # Northwind's ends in three days: still active
}
PORTAL_STAFF = "portal-admin"  # the agency's own account, not a vendor's: never touched
CREDENTIAL_KINDS: dict[str, str] = {
    System.Kind.POSTGRES: Credential.Kind.DATABASE_ROLE,
    System.Kind.LDAP: Credential.Kind.DIRECTORY_ACCOUNT,
    System.Kind.SCIM: Credential.Kind.SAAS_ACCOUNT,
    System.Kind.REDIS: Credential.Kind.CACHE_USER,
    System.Kind.MANUAL: Credential.Kind.OTHER,
}


class Command(BaseCommand):
    help = "Load demo data (idempotent: does nothing when the demo agencies exist)."

    def handle(self, *args, **options):
        if Agency.objects.filter(slug__in=[slug for _, slug, _ in AGENCIES]).exists():
            self.stdout.write("demo data already loaded")
            return
        with transaction.atomic():
            portal = self._seed()
        self.stdout.write(self.style.SUCCESS("demo data loaded"))
        if portal is not None:
            user = PORTAL_USERS[0]
            self.stdout.write(
                f"demo target: {portal} (htpasswd). {user}'s contract has ended: the worker "
                f"revokes it within seconds. Try: htpasswd -vb {portal} {user} {PORTAL_PASSWORD}"
            )

    def _user(self, username, **extra):
        user_model = get_user_model()
        user = user_model.objects.create_user(
            username=username, email=f"{username}@agency.example", **extra
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _seed(self) -> Path | None:
        """Everything in the database; returns the portal's htpasswd file, if made."""
        actor = Actor.system("demo-seed")
        portal = None
        self._user("admin", is_staff=True, is_superuser=True)
        officer = self._user("officer", first_name="Olga", last_name="Officer")
        clerk = self._user("clerk", first_name="Carl", last_name="Clerk")
        auditor = self._user("auditor", first_name="Aida", last_name="Auditor")
        today = timezone.localdate()
        ends = [
            today - dt.timedelta(days=20),  # ended: credentials are overdue for revocation
            today + dt.timedelta(days=3),  # this week
            today + dt.timedelta(days=75),  # next quarter
            today + dt.timedelta(days=400),
        ]
        for a_index, (name, slug, tz) in enumerate(AGENCIES):
            agency = agency_create(actor=actor, name=name, slug=slug, time_zone=tz)
            for user, role in (
                (officer, "security_officer"),
                (clerk, "procurement"),
                (auditor, "auditor"),
            ):
                if a_index == 0 or user is auditor:
                    agency_grant_role(actor=actor, agency=agency, user=user, role=role)
            systems = [
                system_create(
                    actor=actor,
                    agency=agency,
                    name=sys_name,
                    kind=kind,
                    lifecycle=lifecycle,
                    data_classification=classification,
                    estimated_records=records,
                    owner=officer,
                    owner_email="owner@agency.example",
                    config=_placeholder_config(kind, slug),
                )
                for sys_name, kind, lifecycle, classification, records in SYSTEMS
            ]
            portal_system = None
            if a_index == 0 and settings.SUNDOWN_LOCAL_TARGET_ROOTS:
                portal = _portal_file(Path(settings.SUNDOWN_LOCAL_TARGET_ROOTS[0]))
                portal_system = system_create(
                    actor=actor,
                    agency=agency,
                    name=PORTAL_NAME,
                    kind="htpasswd",
                    lifecycle="active",
                    data_classification="confidential",
                    estimated_records=350_000,
                    owner=officer,
                    owner_email="owner@agency.example",
                    config={"path": str(portal)},
                )
            for v_index, (vendor_name, tier) in enumerate(VENDORS):
                vendor = vendor_create(
                    actor=actor,
                    agency=agency,
                    name=vendor_name if a_index == 0 else f"{vendor_name} (Tax)",
                    registration_number=f"HRB {a_index + 1}{v_index:04d}",
                    risk_tier=tier,
                    sponsor=officer,
                    contact_name="Account Manager",
                    contact_email=f"am{v_index}@vendor.example",
                )
                end = ends[v_index % len(ends)]
                contract = contract_create(
                    actor=actor,
                    vendor=vendor,
                    reference=f"{slug.upper()}-{2024 + v_index % 3}-{v_index + 1:03d}",
                    title="Operations and maintenance",
                    start_date=end - dt.timedelta(days=730),
                    end_date=end,
                    grace_days=2 if v_index % 2 else 0,
                    procurement_contact_email="procurement@agency.example",
                )
                for s_index, system in enumerate(systems):
                    if (v_index + s_index) % 2:
                        continue
                    credential_register(
                        actor=actor,
                        vendor=vendor,
                        system=system,
                        contracts=[contract],
                        kind=CREDENTIAL_KINDS[system.kind],
                        external_id=_placeholder_account(system.kind, slug, v_index),
                        holder=f"Engineer {v_index} at {vendor_name.split()[0]}",
                        privileges="read/write" if s_index == 0 else "read",
                    )
                if portal_system is not None and v_index in PORTAL_USERS:
                    credential_register(
                        actor=actor,
                        vendor=vendor,
                        system=portal_system,
                        contracts=[contract],
                        kind=Credential.Kind.OTHER,
                        external_id=PORTAL_USERS[v_index],
                        holder=f"Support desk at {vendor_name.split()[0]}",
                        privileges="upload and download case files",
                    )
        return portal


def _placeholder_config(kind: str, slug: str) -> dict:
    """Settings a connector accepts, on a host under .invalid: each system then fails
    for the one reason it is labelled with, "demo: host does not exist"."""
    host = f"{kind}.{slug}.agency.invalid"
    if kind == System.Kind.SCIM:
        return {"url": f"https://{host}/scim/v2"}
    if kind == System.Kind.LDAP:
        return {"host": host, "base_dn": f"dc={slug},dc=agency,dc=invalid"}
    return {"host": host}


def _placeholder_account(kind: str, slug: str, v_index: int) -> str:
    name = f"{slug}_vendor{v_index}_{kind}"
    if kind == System.Kind.LDAP:
        return f"uid={name},ou=people,dc={slug},dc=agency,dc=invalid"
    return name


def _hash(password: str) -> str:
    # bcrypt as `htpasswd -B` writes it ($2y$); cost 10 keeps seeding quick.
    return (
        bcrypt.hashpw(password.encode(), bcrypt.gensalt(10, prefix=b"2b"))
        .decode()
        .replace("$2b$", "$2y$", 1)
    )


def _portal_file(root: Path) -> Path:
    """Write the portal's htpasswd file afresh (a new demo database starts a new story)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / PORTAL_FILE
    lines = [
        "# Supplier portal: basic-auth users (Apache AuthUserFile), written by seed_demo.\n",
        f"{PORTAL_STAFF}:{_hash(secrets.token_urlsafe(12))}\n",
        *(f"{user}:{_hash(PORTAL_PASSWORD)}\n" for user in PORTAL_USERS.values()),
    ]
    temp = path.with_name(f".{PORTAL_FILE}.{secrets.token_hex(4)}")
    temp.write_text("".join(lines))
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return path
