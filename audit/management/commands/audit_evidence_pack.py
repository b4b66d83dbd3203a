from django.core.management.base import BaseCommand, CommandError

from audit.actor import Actor
from audit.evidence import EvidenceError, evidence_pack_build, scope_for_contract, scope_for_vendor
from vendors.models import Contract, Vendor


class Command(BaseCommand):
    help = (
        "Write the evidence pack (zip) of one vendor or one contract: events, inclusion "
        "proofs, the signed checkpoint, verifier key and a revocation certificate."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--vendor", type=int, help="Vendor id.")
        group.add_argument("--contract", type=int, help="Contract id.")
        parser.add_argument("--out", help="Zip file to write (default: the pack's own name).")

    def handle(self, *args, vendor=None, contract=None, out=None, **options):
        try:
            if vendor is not None:
                scope = scope_for_vendor(Vendor.objects.get(pk=vendor))
            else:
                scope = scope_for_contract(
                    Contract.objects.select_related("vendor").get(pk=contract)
                )
        except (Vendor.DoesNotExist, Contract.DoesNotExist):
            raise CommandError("no such vendor or contract") from None
        try:
            name, data = evidence_pack_build(actor=Actor.system("audit_evidence_pack"), scope=scope)
        except EvidenceError as exc:
            raise CommandError(str(exc)) from exc
        path = out or name
        with open(path, "wb") as fh:
            fh.write(data)
        self.stdout.write(path)
