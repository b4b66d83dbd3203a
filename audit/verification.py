"""The full check behind `audit_verify`: chain, stored tree, and signed checkpoints.

One pass over the events recomputes the chain and every leaf hash; the leaves then
rebuild the tree at each checkpoint's size (a compact range, so a year of
checkpoints costs one pass) and are compared with the stored tree nodes. A
checkpoint shipped with its leaf hashes (the file sink) names the exact first
event that differs; one without (the database's own copy, syslog) names the first
seq after the last checkpoint that still matched.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field

from django.db import connection

from audit import merkle
from audit.checkpoints import CheckpointError, checkpoint_parse
from audit.checkpoints_legacy import legacy_checkpoint_check
from audit.models import Checkpoint, TreeNode
from audit.selectors import ChainReport, audit_chain_verify
from audit.signing import Verifier
from audit.tree import TILE, TILE_LEVEL, Tree


@dataclass
class Problem:
    seq: int | None
    message: str
    # False when ``seq`` is only the start of the range a checkpoint without leaf
    # hashes can point at; any exact finding wins over it.
    exact: bool = True


@dataclass
class _Leaves:
    """Leaf hashes as one bytes buffer (32 bytes each): 1,000,000 events are 32 MB."""

    data: bytearray = field(default_factory=bytearray)
    # Roots of the complete tiles (TILE leaves each) when known, else empty.
    tiles: list[bytes] = field(default_factory=list)

    def __len__(self):
        return len(self.data) // 32

    def __getitem__(self, index: int) -> bytes:
        return bytes(self.data[index * 32 : index * 32 + 32])

    def first_difference(self, other: "_Leaves", limit: int) -> int | None:
        """0-based index of the first leaf that differs below ``limit``, or None."""
        for index in range(min(limit, len(self), len(other))):
            if self[index] != other[index]:
                return index
        if min(len(self), limit) != min(len(other), limit):
            return min(len(self), len(other))
        return None


def parse_checkpoint_lines(lines: list[str]) -> list[dict]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = {"malformed": True}
        if not isinstance(record, dict):
            record = {"malformed": True}
        record["line"] = number
        records.append(record)
    return records


def _checkpoints_check(
    records: list[dict], verifier: Verifier, today: _Leaves, source: str
) -> tuple[Problem | None, int]:
    """The first problem the signed checkpoints reveal, and how many were checked."""
    parsed = []
    for record in records:
        where = f"{source} line {record['line']}" if "line" in record else source
        if record.get("malformed"):
            return Problem(None, f"{where}: not a checkpoint record"), 0
        if "sig" in record and "note" not in record:
            problem = legacy_checkpoint_check(record)
            if problem:
                return Problem(record.get("seq"), f"{where}: {problem}"), 0
            continue
        text = verifier.verify_note(str(record.get("note", "")))
        if text is None:
            return Problem(
                None,
                f"{where}: the checkpoint's signature does not verify with key "
                f"{verifier.name} (forged, altered, or another key)",
            ), 0
        try:
            origin, size, root = checkpoint_parse(text)
        except CheckpointError as exc:
            return Problem(None, f"{where}: {exc}"), 0
        if origin != verifier.name:
            return Problem(None, f"{where}: checkpoint of another log ({origin})"), 0
        parsed.append((size, root, record, where))
    parsed.sort(key=lambda item: item[0])

    shipped, shipped_ok = _Leaves(), True
    shipped_range, today_range = merkle.CompactRange(), merkle.CompactRange()
    last_good = 0
    for size, root, record, where in parsed:
        if shipped_ok and "leaf_hashes" in record:
            try:
                start = int(record["leaves_from"])
                raw = base64.b64decode(record["leaf_hashes"], validate=True)
            except (KeyError, TypeError, ValueError, binascii.Error):
                shipped_ok = False
            else:
                have = len(shipped)
                if start > have or len(raw) % 32:
                    shipped_ok = False
                else:
                    shipped.data += raw[(have - start) * 32 :]
        else:
            shipped_ok = False
        if shipped_ok and len(shipped) >= size:
            while shipped_range.size < size:
                shipped_range.append(shipped[shipped_range.size])
            # Leaf hashes someone edited in the sink no longer fit the signed root.
            shipped_ok = shipped_range.root() == root
        if size > len(today):
            if shipped_ok:
                index = shipped.first_difference(today, size)
                bad = (index if index is not None else len(today)) + 1
            else:
                bad = len(today) + 1
            return Problem(
                bad,
                f"{where}: a signed checkpoint covers {size} events but the trail holds "
                f"{len(today)} (events removed); first bad seq {bad}",
            ), len(parsed)
        while today_range.size < size:
            at = today_range.size
            if at % TILE == 0 and at + TILE <= size and at // TILE < len(today.tiles):
                today_range.append_subtree(today.tiles[at // TILE], TILE_LEVEL)
            else:
                today_range.append(today[at])
        if today_range.root() != root:
            index = shipped.first_difference(today, size) if shipped_ok else None
            if index is not None:
                return Problem(
                    index + 1,
                    f"{where}: seq {index + 1} differs from the event the checkpoint at "
                    f"size {size} signed (rewritten or inserted)",
                ), len(parsed)
            return Problem(
                last_good + 1,
                f"{where}: the events up to seq {size} differ from the signed checkpoint; "
                f"the first change is between seq {last_good + 1} and {size}",
                exact=False,
            ), len(parsed)
        last_good = size
    return None, len(parsed)


def _stored_nodes_check(today: _Leaves, tile_roots: list[bytes]) -> Problem | None:
    """Stored subtree hashes must be what today's events hash to (proofs rely on them).

    ``tile_roots`` are the tiles' roots when the chain check hashed them already.
    """
    tiles = len(today) // TILE
    computed: dict[tuple[int, int], bytes] = {}
    for tile in range(tiles):
        computed[(TILE_LEVEL, tile)] = (
            tile_roots[tile]
            if len(tile_roots) == tiles
            else merkle.root_of([today[i] for i in range(tile * TILE, (tile + 1) * TILE)])
        )
    level, count = TILE_LEVEL, tiles
    while count > 1:
        for index in range(count // 2):
            computed[(level + 1, index)] = merkle.node_hash(
                computed[(level, 2 * index)], computed[(level, 2 * index + 1)]
            )
        level, count = level + 1, count // 2
    worst: Problem | None = None
    # Plain SQL: the ORM's row iteration took 80-100 ms for the ~7,800 nodes of 1,000,000
    # events, the fetch itself 10-15, all of it after the chain check, with one core idle.
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name
        cursor.execute(
            f"SELECT level, {quote('index')}, hash FROM {quote(TreeNode._meta.db_table)}"
        )
        stored = cursor.fetchall()
    for level, index, digest in stored:
        first = index * (1 << level) + 1
        if computed.get((level, index)) != bytes(digest) and (
            worst is None or worst.seq is None or first < worst.seq
        ):
            worst = Problem(
                first,
                f"stored tree node {level}/{index} (seq {first}..{first + (1 << level) - 1}) "
                "does not match the events (inclusion proofs from it would lie)",
            )
    return worst


def audit_verify_all(
    *,
    verifier: Verifier | None = None,
    checkpoint_lines: list[str] | None = None,
    workers: int = 1,
    chunk_events: int | None = None,
) -> ChainReport:
    """Chain, stored tree and checkpoints (the database's, plus ``checkpoint_lines``).

    ``workers`` processes recompute the chain in chunks (``audit.chain_check``).
    """
    today = _Leaves()
    report = audit_chain_verify(
        workers=workers, chunk_events=chunk_events, leaves=today.data, tiles=today.tiles
    )
    problems = [] if report.ok else [Problem(report.first_bad_seq, report.message)]
    node_problem = _stored_nodes_check(today, today.tiles)
    if node_problem:
        problems.append(node_problem)
    notes = []
    if verifier is not None:
        stored = [{"note": note} for note in Checkpoint.objects.values_list("note", flat=True)]
        problem, count = _checkpoints_check(stored, verifier, today, "stored checkpoint")
        if problem:
            problems.append(problem)
        elif count:
            notes.append(f"{count} stored checkpoints match")
        if checkpoint_lines is not None:
            records = parse_checkpoint_lines(checkpoint_lines)
            problem, count = _checkpoints_check(records, verifier, today, "checkpoint file")
            if problem:
                problems.append(problem)
            else:
                notes.append(f"{len(records)} signed checkpoints match")
                _last_consistency(records, verifier, report, len(today), notes, problems)
    if problems:
        named = [p for p in problems if p.seq is not None]
        exact = [p for p in named if p.exact] or named
        first = min(exact, key=lambda p: p.seq or 0) if exact else problems[0]
        return ChainReport(
            False,
            report.events_checked,
            first.seq,
            "; ".join(p.message for p in ([first] + [p for p in problems if p is not first])),
        )
    report.message = "; ".join([report.message, *notes])
    return report


def _last_consistency(records, verifier, report, size, notes, problems) -> None:
    """End to end: a consistency proof from the stored tree, checked against the file."""
    signed = [r for r in records if "note" in r]
    if not signed or not size:
        return
    text = verifier.verify_note(signed[-1]["note"])
    if text is None:
        return
    _, old_size, old_root = checkpoint_parse(text)
    tree = Tree(size)
    if merkle.verify_consistency(
        old_size, size, old_root, tree.root(), tree.consistency_proof(old_size)
    ):
        notes.append(f"consistency proof {old_size} -> {size} verifies")
    else:
        problems.append(Problem(None, f"no consistency proof from size {old_size} to {size}"))
