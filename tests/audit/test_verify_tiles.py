"""The Merkle tiles hashed by the chain check's chunks stand in for the leaves exactly."""

import hashlib

import pytest
from django.core.management import call_command
from django.db import transaction

from audit import merkle
from audit.actor import Actor
from audit.selectors import audit_chain_verify
from audit.services import PendingEvent, audit_record_many
from audit.tasks import audit_checkpoint_task
from tests.audit.test_tampering import _caught_at, _edited, _rewrite, _rows

pytestmark = pytest.mark.django_db


def test_a_compact_range_takes_whole_aligned_subtrees():
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(1000)]
    by_leaf, by_tile = merkle.CompactRange(), merkle.CompactRange()
    for size in (256, 512, 768):
        by_tile.append_subtree(merkle.root_of(leaves[size - 256 : size]), 8)
        by_leaf.extend(leaves[size - 256 : size])
        assert (by_tile.size, by_tile.root()) == (size, by_leaf.root())
    for leaf in leaves[768:]:
        by_tile.append(leaf)
    assert by_tile.root() == merkle.root_of(leaves)
    with pytest.raises(ValueError):
        by_tile.append_subtree(leaves[0], 8)  # 1000 is not a tile border


@pytest.mark.parametrize("chunk", [256, 512, 700])
def test_tiles_from_chunks_match_the_leaves(chunk):
    with transaction.atomic():
        audit_record_many(
            actor=Actor.system("bulk"),
            events=[PendingEvent("test.event", after={"i": i}) for i in range(1100)],
        )
    leaves, tiles = bytearray(), []
    assert audit_chain_verify(chunk_events=chunk, leaves=leaves, tiles=tiles).ok
    expected = [
        merkle.root_of([bytes(leaves[j : j + 32]) for j in range(t * 8192, (t + 1) * 8192, 32)])
        for t in range(4)
    ]
    # Chunks of 700 do not start on tile borders: no tiles, the leaves are hashed instead.
    assert tiles == ([] if chunk == 700 else expected)


def test_checkpoints_over_tiles_still_name_the_first_rewritten_event(tmp_path, settings):
    sink = tmp_path / "checkpoints.jsonl"
    settings.SUNDOWN_CHECKPOINT_SINKS = [f"file:{sink}"]
    for _ in range(2):
        with transaction.atomic():
            audit_record_many(
                actor=Actor.system("bulk"),
                events=[PendingEvent("test.event", after={"i": i}) for i in range(300)],
            )
        audit_checkpoint_task()
    call_command("audit_verify", "--checkpoints", str(sink))
    _rewrite(_edited(_rows(), 530, after={"i": "changed"}))
    assert audit_chain_verify().ok  # the chain alone looks intact; the checkpoints do not
    _caught_at(sink, 530)
