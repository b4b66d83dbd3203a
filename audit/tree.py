"""The RFC 6962 tree over the stored events: stored subtree hashes plus rehashing.

Complete aligned subtrees of 2**TILE_LEVEL leaves and up are stored in
``TreeNode`` once their leaves exist (``tree_extend``, run by every checkpoint);
anything smaller, or the ragged right edge, is rehashed from the events. A proof
on a 1,000,000-event tree so reads ~20 stored nodes and rehashes at most two
tiles of 256 events (bench/audit_tree.py).
"""

from django.db import connection, transaction

from audit import merkle
from audit.chain_chunks import text_rows
from audit.hashing import COLUMNS, KNOWN_VERSIONS, canonical
from audit.models import AuditEvent, ChainHead, TreeNode

TILE_LEVEL = 8
TILE = 1 << TILE_LEVEL
# Stored nodes from this level up are read in one query per Tree.
_BULK_LEVEL = 12
_EXTEND_LOCK = 0x5D0A_7EE  # pg_advisory_xact_lock key: one extender at a time


class TreeError(Exception):
    """The events cannot form the tree (a missing seq, an unknown hash version)."""

    def __init__(self, message: str, seq: int):
        super().__init__(message)
        self.seq = seq


def event_leaf_data(record: dict) -> bytes:
    """Leaf data of an event: its canonical bytes, exactly as the chain hashes them."""
    if record["hash_version"] not in KNOWN_VERSIONS:
        raise TreeError(
            f"seq {record['seq']} has unknown hash version {record['hash_version']}",
            record["seq"],
        )
    return canonical(record, record["prev_hash"], record["hash_version"])


def leaf_hashes(start: int, end: int) -> list[bytes]:
    """Leaf hashes of leaves [start, end), i.e. events seq start+1 .. end."""
    hashes = []
    expected = start + 1
    for seq, version, data in _canonical_rows(start, end):
        if seq != expected:
            raise TreeError(f"seq {expected} is missing", expected)
        if data is None:
            raise TreeError(f"seq {seq} has unknown hash version {version}", seq)
        hashes.append(merkle.leaf_hash(data))
        expected += 1
    if expected != end + 1:
        raise TreeError(f"seq {expected} is missing", expected)
    return hashes


def _canonical_rows(start: int, end: int):
    """(seq, hash version, canonical bytes or None) of events start < seq <= end."""
    if connection.vendor == "postgresql":
        # Read as text like the chain check (audit.chain_check): far cheaper than models.
        with connection.cursor() as cursor:
            for seq, version, _, _, data in text_rows(cursor, start, end):
                yield seq, version, data
        return
    rows = (
        AuditEvent.objects.filter(seq__gt=start, seq__lte=end).order_by("seq").values_list(*COLUMNS)
    )
    for values in rows:
        record = dict(zip(COLUMNS, values, strict=True))
        version = record["hash_version"]
        data = event_leaf_data(record) if version in KNOWN_VERSIONS else None
        yield record["seq"], version, data


def tree_size() -> int:
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return head or 0


class Tree:
    """Read-only view of the tree at ``size`` leaves, caching what one request reads."""

    def __init__(self, size: int):
        self.size = size
        self._nodes: dict[tuple[int, int], bytes | None] = {}
        self._tiles: dict[int, list[bytes]] = {}
        self._bulk_loaded = False

    def _tile(self, index: int) -> list[bytes]:
        if index not in self._tiles:
            start = index * TILE
            self._tiles[index] = leaf_hashes(start, min(start + TILE, self.size))
        return self._tiles[index]

    def _stored(self, level: int, index: int) -> bytes | None:
        key = (level, index)
        if level >= _BULK_LEVEL and not self._bulk_loaded:
            # The top of the tree is small (1/4096 of the events): one query for all of it.
            self._bulk_loaded = True
            for lvl, idx, digest in TreeNode.objects.filter(level__gte=_BULK_LEVEL).values_list(
                "level", "index", "hash"
            ):
                self._nodes[(lvl, idx)] = bytes(digest)
        if key not in self._nodes and not (level >= _BULK_LEVEL and self._bulk_loaded):
            value = (
                TreeNode.objects.filter(level=level, index=index)
                .values_list("hash", flat=True)
                .first()
            )
            self._nodes[key] = bytes(value) if value is not None else None
        return self._nodes.get(key)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end) (end <= size)."""
        n = end - start
        if n <= 0:
            return merkle.EMPTY_ROOT
        if n >= TILE and n & (n - 1) == 0 and start % n == 0:
            stored = self._stored(n.bit_length() - 1, start // n)
            if stored is not None:
                return stored
        if start // TILE == (end - 1) // TILE:
            tile = self._tile(start // TILE)
            offset = start % TILE
            return merkle.root_of(tile[offset : offset + n])
        k = merkle.split(n)
        return merkle.node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self) -> bytes:
        return self.subtree(0, self.size)

    def leaf(self, index: int) -> bytes:
        return self._tile(index // TILE)[index % TILE]

    def inclusion_proof(self, index: int) -> list[bytes]:
        return merkle.inclusion_proof(index, self.size, self.subtree)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        return merkle.consistency_proof(old_size, self.size, self.subtree)


def stored_tiles() -> int:
    """How many complete tiles have their nodes stored (they are stored in order)."""
    return TreeNode.objects.filter(level=TILE_LEVEL).count()


def tree_extend(*, up_to: int | None = None) -> int:
    """Store the nodes of every complete tile not stored yet; return the tiles stored.

    Idempotent and safe to run from several workers: an advisory lock lets one
    extend while the others wait and then find nothing to do.
    """
    size = tree_size() if up_to is None else up_to
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EXTEND_LOCK])
        done = stored_tiles()
        # Right-edge nodes waiting for a sibling, per level (only ever one per level).
        pending: dict[int, bytes] = {}
        rows: list[TreeNode] = []
        for tile in range(done, size // TILE):
            digest = merkle.root_of(leaf_hashes(tile * TILE, (tile + 1) * TILE))
            level, index = TILE_LEVEL, tile
            while True:
                rows.append(TreeNode(level=level, index=index, hash=digest))
                if not index & 1:
                    pending[level] = digest
                    break
                left = pending.pop(level, None)
                if left is None:
                    left = bytes(TreeNode.objects.get(level=level, index=index - 1).hash)
                digest = merkle.node_hash(left, digest)
                level, index = level + 1, index >> 1
            if len(rows) >= 2000:
                TreeNode.objects.bulk_create(rows)
                rows = []
        TreeNode.objects.bulk_create(rows)
        return max(done, size // TILE)
