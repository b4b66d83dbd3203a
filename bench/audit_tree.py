"""The Merkle tree on a large trail (PostgreSQL): build, extend, proofs, checkpoint.

    .venv/bin/python bench/audit_tree.py [--events 1000000] [--batch 10000] [--proofs 200]

Events are appended through `audit_record_many` (the product's path, one call per
batch), which also shows the append rate; then the tree's stored nodes are built once
(`tree_extend`, what the first checkpoint does), and inclusion and consistency proofs
are timed on the full tree. Yardstick: the "tree_extend from nothing" line, i.e. what
every proof would cost if it rebuilt the tree from the events instead of reading stored
subtree hashes.
"""

import argparse
import random
import statistics
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_tree"


def _append(start: int, end: int) -> None:
    from django.db import transaction

    from audit.actor import Actor
    from audit.services import PendingEvent, audit_record_many

    with transaction.atomic():
        audit_record_many(
            actor=Actor(type="system", name="system:bench", request_id="bench"),
            events=[
                PendingEvent(
                    "credential.revoked",
                    ("access.credential", i, f"role_{i}"),
                    1,
                    {"status": "pending"},
                    {"i": i, "status": "revoked"},
                )
                for i in range(start, end)
            ],
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    import os
    import tempfile

    # A throwaway signing key: the bench signs checkpoints but ships them nowhere.
    os.environ["SUNDOWN_AUDIT_SIGNING_KEY_FILE"] = os.path.join(tempfile.mkdtemp(), "bench.key")
    os.environ["SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE"] = "1"
    django_on_fresh_database(DB)

    from audit import merkle
    from audit.checkpoints import checkpoint_create
    from audit.tree import Tree, tree_extend

    started = time.perf_counter()
    for start in range(0, args.events, args.batch):
        _append(start, min(start + args.batch, args.events))
    appended = time.perf_counter() - started
    print(
        f"audit_record_many: {args.events:,} events in {appended:.1f} s, "
        f"{args.events / appended:,.0f} events/s in calls of {args.batch:,}"
    )

    started = time.perf_counter()
    tiles = tree_extend()
    extended = time.perf_counter() - started
    print(
        f"tree_extend from nothing: {tiles:,} tiles in {extended:.1f} s "
        f"({args.events / extended:,.0f} events/s hashed)"
    )

    size = args.events
    rng = random.Random(6962)
    timings = []
    for _ in range(args.proofs):
        index = rng.randrange(size)
        began = time.perf_counter()
        tree = Tree(size)
        proof = tree.inclusion_proof(index)
        leaf = tree.leaf(index)
        root = tree.root()
        timings.append(time.perf_counter() - began)
        assert merkle.verify_inclusion(index, size, leaf, proof, root)
    print(
        f"inclusion proof on a {size:,}-event tree (new Tree each, with root): "
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.1f} ms"
    )
    timings = []
    for _ in range(args.proofs):
        old = rng.randrange(1, size)
        began = time.perf_counter()
        tree = Tree(size)
        proof = tree.consistency_proof(old)
        old_root = Tree(old).root()
        new_root = tree.root()
        timings.append(time.perf_counter() - began)
        assert merkle.verify_consistency(old, size, old_root, new_root, proof)
    print(
        f"consistency proof m -> {size:,} (with both roots): "
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.1f} ms"
    )
    started = time.perf_counter()
    checkpoint_create(ship=False)
    print(f"first signed checkpoint of the tree: {time.perf_counter() - started:.2f} s")
    _append(0, 1000)
    started = time.perf_counter()
    checkpoint_create(ship=False)
    print(
        f"next checkpoint after 1,000 more events (extend, consistency check, sign): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    if not args.keep:
        drop_database(DB)


if __name__ == "__main__":
    main()
