"""The tree, its proofs and the stored nodes, checked by tests/audit/independent.py."""

import pytest
from django.db import transaction

from audit import merkle
from audit.actor import Actor
from audit.hashing import COLUMNS
from audit.models import AuditEvent, TreeNode
from audit.services import PendingEvent, audit_record_many
from audit.tree import Tree, event_leaf_data, tree_extend
from tests.audit import independent


def _memory_subtree(data):
    return lambda start, end: independent.mth(data[start:end])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 100])
def test_proofs_agree_with_an_independent_reading_of_rfc6962(size):
    data = [f"entry {i}".encode() for i in range(size)]
    subtree = _memory_subtree(data)
    root = independent.mth(data)
    assert merkle.root_of([merkle.leaf_hash(d) for d in data]) == root
    for index in range(size):
        leaf = merkle.leaf_hash(data[index])
        proof = merkle.inclusion_proof(index, size, subtree)
        assert independent.root_from_audit_path(index, size, leaf, proof) == root
        assert merkle.verify_inclusion(index, size, leaf, proof, root)
        assert not merkle.verify_inclusion(index, size, leaf, proof, b"\0" * 32)
    for old in range(1, size + 1):
        old_root = independent.mth(data[:old])
        proof = merkle.consistency_proof(old, size, subtree)
        if old < size:
            assert independent.consistency_roots(old, size, old_root, proof) == (old_root, root)
        assert merkle.verify_consistency(old, size, old_root, root, proof)
        if proof:
            forged = [bytes(32), *proof[1:]]
            assert not merkle.verify_consistency(old, size, old_root, root, forged)


@pytest.mark.django_db
def test_tree_over_the_events_matches_the_definition():
    actor = Actor.system("tree")
    with transaction.atomic():
        audit_record_many(
            actor=actor,
            events=[PendingEvent("test.event", after={"i": i}) for i in range(600)],
        )
    assert tree_extend() == 2  # two complete tiles of 256
    # Levels 8 (two tiles) and 9 (their parent) are stored; nothing smaller.
    assert sorted(TreeNode.objects.values_list("level", "index")) == [(8, 0), (8, 1), (9, 0)]
    data = [
        event_leaf_data(dict(zip(COLUMNS, row, strict=True)))
        for row in AuditEvent.objects.order_by("seq").values_list(*COLUMNS)
    ]
    for size in (1, 255, 256, 257, 511, 512, 513, 600):
        tree = Tree(size)
        root = independent.mth(data[:size])
        assert tree.root() == root
        for index in {0, size // 2, size - 1}:
            leaf = merkle.leaf_hash(data[index])
            proof = tree.inclusion_proof(index)
            assert independent.root_from_audit_path(index, size, leaf, proof) == root
        for old in {1, 256, size // 3 or 1}:
            if old < size:
                proof = tree.consistency_proof(old)
                old_root = independent.mth(data[:old])
                assert independent.consistency_roots(old, size, old_root, proof) == (
                    old_root,
                    root,
                )
    assert tree_extend() == 2  # idempotent
