"""The Merkle tree on a large trail (PostgreSQL): build, extend, proofs, checkpoint.

    .venv/bin/python bench/audit_tree.py [--events 1000000] [--batch 10000] [--proofs 200]

Events are appended through the `audit_append` database function itself (pieces built
in SQL, one call per batch), which also shows that function's own rate; then the
tree's stored nodes are built once (`tree_extend`, what the first checkpoint does),
and inclusion and consistency proofs are timed on the full tree. Yardstick: the
"tree_extend from nothing" line, i.e. what every proof would cost if it rebuilt the
tree from the events instead of reading stored subtree hashes.
"""

import argparse
import random
import statistics
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_tree"

PRE = (
    '\'{"action":"credential.revoked","actor_id":"","actor_name":"system:bench",'
    '"actor_type":"system","after":{"i":\' || i || \',"status":"revoked"},'
    '"agency_id":1,"before":{"status":"pending"},"occurred_at":"\''
)
POST = (
    '\'"source_ip":null,"target_id":"\' || i || \'","target_repr":"role_\' || i || '
    '\'","target_type":"access.credential","v":1}\''
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

    from django.db import connection, transaction

    from audit import merkle
    from audit.checkpoints import checkpoint_create
    from audit.tree import Tree, tree_extend

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, args.events, args.batch):
            end = min(start + args.batch, args.events)
            with transaction.atomic():
                cursor.execute(
                    f"SELECT first_seq FROM audit_append("
                    f"(SELECT array_agg({PRE} ORDER BY i) FROM generate_series(%s, %s) i),"
                    f' \'"request_id":"bench"\','
                    f"(SELECT array_agg({POST} ORDER BY i) FROM generate_series(%s, %s) i))",
                    [start, end - 1, start, end - 1],
                )
    appended = time.perf_counter() - started
    print(
        f"audit_append (pieces built in SQL): {args.events:,} events in {appended:.1f} s, "
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
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT audit_append("
            f"(SELECT array_agg({PRE} ORDER BY i) FROM generate_series(0, 999) i),"
            f' \'"request_id":"bench"\','
            f"(SELECT array_agg({POST} ORDER BY i) FROM generate_series(0, 999) i))"
        )
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
