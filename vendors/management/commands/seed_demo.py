"""Demo data for `make run`: two agencies, a dozen vendors, contracts, systems, credentials."""

import datetime as dt

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
            self._seed()
        self.stdout.write(self.style.SUCCESS("demo data loaded"))

    def _user(self, username, **extra):
        user_model = get_user_model()
        user = user_model.objects.create_user(
            username=username, email=f"{username}@agency.example", **extra
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _seed(self):
        actor = Actor.system("demo-seed")
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
                    config=(
                        {"url": f"https://{kind}.{slug}.agency.internal/scim/v2"}
                        if kind == "scim"
                        else {"host": f"{kind}.{slug}.agency.internal"}
                    ),
                )
                for sys_name, kind, lifecycle, classification, records in SYSTEMS
            ]
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
                        external_id=f"{slug}_vendor{v_index}_{system.kind}",
                        holder=f"Engineer {v_index} at {vendor_name.split()[0]}",
                        privileges="read/write" if s_index == 0 else "read",
                    )
