import json
import sys

from django.core.management.base import BaseCommand

from audit.hashing import COLUMNS
from audit.models import AuditEvent
from audit.tree import event_leaf_data


class Command(BaseCommand):
    help = (
        'Write events as JSON lines {"seq", "canonical", "hash"}: the canonical text is the '
        "Merkle leaf data, so anyone can rebuild the tree and check a checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--after-seq", type=int, default=0, help="Only events after this.")
        parser.add_argument("--out", help="Write here instead of standard output.")

    def handle(self, *args, after_seq=0, out=None, **options):
        rows = (
            AuditEvent.objects.filter(seq__gt=after_seq)
            .order_by("seq")
            .values_list(*COLUMNS)
            .iterator(chunk_size=5000)
        )
        fh = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
        try:
            for values in rows:
                record = dict(zip(COLUMNS, values, strict=True))
                line = {
                    "seq": record["seq"],
                    "canonical": event_leaf_data(record).decode(),
                    "hash": record["hash"],
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        finally:
            if out:
                fh.close()
