"""Show or change an agency's findings and time-based policy (audited like any change).

manage.py finding_policy health
manage.py finding_policy health --max-age api_key=180 --max-age ssh_key=365 --max-age-revoke
manage.py finding_policy health --dormant-days 35 --dormant-revoke
manage.py finding_policy health --no-max-age
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from findings.models import FindingPolicy
from findings.policies import max_age_limits
from findings.services import finding_policy_set
from vendors.models import Agency


class Command(BaseCommand):
    help = "Show or change an agency's maximum ages, dormancy limit and what they revoke."

    def add_arguments(self, parser):
        parser.add_argument("agency", help="The agency's slug")
        parser.add_argument(
            "--max-age",
            action="append",
            metavar="KIND=DAYS",
            help="Maximum age of a credential kind (repeatable; replaces the whole table)",
        )
        parser.add_argument("--no-max-age", action="store_true", help="No maximum ages at all")
        parser.add_argument("--dormant-days", type=int)
        for name in ("max-age-revoke", "dormant-revoke"):
            group = parser.add_mutually_exclusive_group()
            group.add_argument(f"--{name}", dest=name.replace("-", "_"), action="store_true")
            group.add_argument(f"--no-{name}", dest=name.replace("-", "_"), action="store_false")
        # Neither flag given: leave that setting as it is.
        parser.set_defaults(max_age_revoke=None, dormant_revoke=None)

    def handle(self, *args, **options):
        agency = Agency.objects.filter(slug=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency {options['agency']!r}")
        table = None
        if options["no_max_age"]:
            table = {}
        elif options["max_age"]:
            table = {}
            for item in options["max_age"]:
                kind, _, days = item.partition("=")
                if not days.strip().isdigit():
                    raise CommandError(f"--max-age takes KIND=DAYS, not {item!r}")
                table[kind.strip()] = int(days)
        changes = {
            "max_age_days": table,
            "max_age_revoke": options["max_age_revoke"],
            "dormant_days": options["dormant_days"],
            "dormant_revoke": options["dormant_revoke"],
        }
        if any(value is not None for value in changes.values()):
            try:
                finding_policy_set(
                    actor=Actor.system("finding-policy-command"), agency=agency, **changes
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        policy = FindingPolicy.objects.filter(agency=agency).first()
        limits = max_age_limits(policy)
        ages = ", ".join(f"{k} {d} days" for k, d in sorted(limits.items())) or "none"
        self.stdout.write(f"{agency.name}: maximum age {ages}")
        self.stdout.write(
            f"  revoke over age: {'yes' if policy and policy.max_age_revoke else 'no'}; "
            f"dormant after {policy.dormant_days if policy else 'the default'} days, "
            f"revoke dormant: {'yes' if policy and policy.dormant_revoke else 'no'}"
            + ("" if policy else " (no policy of its own: the deployment's defaults)")
        )
