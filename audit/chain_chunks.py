"""One chunk of the audit chain checked: its rows read, their canonical text rebuilt,
every hash and every link inside the chunk, its Merkle leaves and tiles.

The fast path reads the chunk with ``COPY ... TO STDOUT`` as text (the time already
formatted by the database, ``before``/``after`` as their JSON text, an object seen
before not parsed again); a chunk with anything wrong, or anything the fast path does
not handle, is read again by the exact pass, which names the first bad seq. How the
chunks are handed to processes and merged in seq order: ``audit.chain_check``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from audit import merkle
from audit.hashing import KNOWN_VERSIONS
from config.json_depth import dumps_canonical, loads, nested_deeper_than
from config.planner import planner_without

# Stands in for the leaf of an event whose hash version is unknown: it cannot match.
UNKNOWN_LEAF = b"\xff" * 32

# Leaves per stored Merkle tile (audit.tree.TILE_LEVEL; that module needs the models).
TILE = 256
# Rows per query of the exact pass.
_PAGE = 10_000

# The columns as text, for `_Canonical`: the time in UTC as PostgreSQL prints it (its
# own formatting functions cost the database more than slicing costs Python).
_PAGE_SQL = (
    "SELECT seq, hash_version, prev_hash, hash, action, actor_id, actor_name, actor_type,"
    " after::text, agency_id, before::text, (occurred_at AT TIME ZONE 'UTC')::text,"
    " request_id, source_ip, target_id, target_repr, target_type"
    " FROM audit_auditevent WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)
# Version 1's canonical text (`audit.hashing.canonical`): keys in sorted order.
_FORMAT = (
    '{"action":%s,"actor_id":%s,"actor_name":%s,"actor_type":%s,"after":%s,"agency_id":%s,'
    '"before":%s,"occurred_at":"%s","prev_hash":%s,"request_id":%s,"seq":%d,"source_ip":%s,'
    '"target_id":%s,"target_repr":%s,"target_type":%s,"v":%d}'
)

_encode_str = json.encoder.encode_basestring  # json.dumps of a str, ensure_ascii=False
# The C scanner and encoder behind json.loads and json.dumps(sort_keys, compact,
# ensure_ascii=False), called directly: their Python wrappers cost as much as they do
# on objects this small. (No circular check: the objects come from parsed JSON.)
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_encoder = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, json.JSONEncoder().default, _encode_str, None, ":", ",", True, False, True
)


@dataclass
class ChunkResult:
    """What one chunk of seq (lo, hi] holds and the first problem inside it."""

    rows: int = 0
    first_seq: int = 0
    first_prev: str = ""
    last_seq: int = 0
    last_hash: str = ""
    checked: int = 0  # rows before ``problem`` (all rows if there is none)
    problem: tuple[int, str] | None = None
    leaves: bytes = b""
    # Roots of the Merkle tiles (TILE leaves, seq-aligned) when the chunk holds every
    # seq of its range from a tile border on; None when it does not.
    tiles: list[bytes] | None = None


class _Canonical:
    """Version 1 canonical bytes of a row read as text (`audit.hashing.canonical`)."""

    def __init__(self) -> None:
        # JSON text as PostgreSQL prints it -> canonical text: a trail repeats its
        # before/after objects ({"status": "active"}) far more often than not.
        self._json: dict[str, str] = {}

    def _object(self, text: str | None) -> str:
        if text is None:
            return "null"
        canonical = self._json.get(text)
        if canonical is None:
            if len(self._json) > 50_000:
                self._json.clear()
            canonical = self._json[text] = _canonical_object(text)
        return canonical

    def __call__(self, row: tuple) -> bytes:
        (seq, version, prev, _, action, actor_id, actor_name, actor_type, after) = row[:9]
        (agency_id, before, time, request_id, source_ip, target_id, target_repr) = row[9:16]
        s = _encode_str
        # '2026-12-07 01:02:03.45' -> '2026-12-07T01:02:03.450000Z' (PostgreSQL drops
        # trailing zeros of the fraction, and the fraction itself when it is zero).
        time = f"{time[:10]}T{time[11:19]}{(time[19:] or '.') + '000000':.7}Z"
        return (
            _FORMAT
            % (
                s(action),
                s(actor_id),
                s(actor_name),
                s(actor_type),
                self._object(after),
                "null" if agency_id is None else agency_id,
                self._object(before),
                time,
                s(prev),
                s(request_id),
                seq,
                "null" if source_ip is None else s(source_ip),
                s(target_id),
                s(target_repr),
                s(row[16]),
                version,
            )
        ).encode()


def text_rows(cursor, lo: int, hi: int):
    """(seq, hash version, prev_hash, hash, canonical bytes or None) read as text (PostgreSQL)."""
    canonical = _Canonical()
    after = lo
    while True:
        cursor.execute(_PAGE_SQL, [after, hi, _PAGE])
        rows = cursor.fetchall()
        for row in rows:
            version = row[1]
            yield (
                row[0],
                version,
                row[2],
                row[3],
                (canonical(row) if version in KNOWN_VERSIONS else None),
            )
        if len(rows) < _PAGE:
            return
        after = rows[-1][0]


def _model_rows(lo: int, hi: int):
    """The same through the ORM (SQLite, the embedded default)."""
    from audit.hashing import COLUMNS, canonical
    from audit.models import AuditEvent

    rows = (
        AuditEvent.objects.filter(seq__gt=lo, seq__lte=hi)
        .order_by("seq")
        .values_list(*COLUMNS)
        .iterator(chunk_size=_PAGE)
    )
    for values in rows:
        record = dict(zip(COLUMNS, values, strict=True))
        version = record["hash_version"]
        data = None
        if version in KNOWN_VERSIONS:
            data = canonical(record, record["prev_hash"], version)
        yield record["seq"], version, record["prev_hash"], record["hash"], data


def _tile_roots(leaves: list[bytes]) -> list[bytes]:
    """Roots of the complete TILE-leaf tiles over ``leaves``, a level at a time."""
    # Each node hashes 0x01 and its two children: a copy of a hash already fed 0x01,
    # updated with each child, instead of two concatenations (a fifth less per leaf).
    node = hashlib.sha256(b"\x01")
    roots = []
    for start in range(0, len(leaves) - TILE + 1, TILE):
        level = leaves[start : start + TILE]
        while len(level) > 1:
            parents = []
            for i in range(0, len(level), 2):
                pair = node.copy()
                pair.update(level[i])
                pair.update(level[i + 1])
                parents.append(pair.digest())
            level = parents
        roots.append(level[0])
    return roots


# The fast pass reads a chunk with COPY ... TO STDOUT and checks each row as psycopg2
# hands it over (`_fast_chunk`), while the database goes on printing the next ones: one
# process keeps its backend busy instead of waiting for it a page at a time, and a row
# is one bytes object split by str.split instead of a tuple of 17 objects.
# The row prints no NULL: the nullable columns come as their canonical JSON when NULL
# ('null': an agency or an address never prints so, and a NULL before/after is written
# exactly as a JSON null is), so a row without a backslash has no escape to undo. The
# text columns come first, then before/after, then the version, to which the newline
# that ends the row sticks.
_COPY_SQL = (
    "COPY (SELECT seq, prev_hash, hash, action, actor_id, actor_name, actor_type,"
    " coalesce(agency_id::text, 'null'), (occurred_at AT TIME ZONE 'UTC')::text,"
    " request_id, coalesce(abbrev(source_ip), 'null'), target_id, target_repr, target_type,"
    " coalesce(after::text, 'null'), coalesce(before::text, 'null'), hash_version"
    " FROM audit_auditevent WHERE seq > %d AND seq <= %d ORDER BY seq) TO STDOUT"
)
# COPY's text format: a backslash, \b \f \n \r \t \v stand for the character (any
# other control character is printed as is; NULL, \N, does not occur in _COPY_SQL's rows).
_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_COPY_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _copy_unescape(match: re.Match) -> str:
    return _COPY_ESCAPES.get(match.group(1), match.group(0))


def _copy_fields(line: str) -> list[str]:
    """The fields of a COPY text line that holds escapes."""
    return [_COPY_ESCAPE.sub(_copy_unescape, field) for field in line.split("\t")]


def _canonical_object(text: str) -> str:
    """Version 1's canonical text of a JSON value as PostgreSQL prints jsonb."""
    if nested_deeper_than(text):  # a row from before the depth limit
        return dumps_canonical(loads(text))
    return "".join(_encoder(_scan(text, 0)[0], 0))


class _RowSink:
    """What COPY writes to: each row goes to ``write`` as it arrives."""

    def __init__(self, write) -> None:
        self.write = write


def _fast_chunk(cursor, lo: int, hi: int) -> ChunkResult | None:
    """The chunk when every event in it is intact and linked, else None.

    The same canonical bytes as `_Canonical` and the same checks as the exact pass,
    written for the common case: one call per row with no calls in it but the hashes,
    the string escapes, and the JSON of a before/after not seen before. Any surprise (a
    gap, a broken link, a hash or version that does not fit) returns None, and the
    exact pass reads the chunk again to name it.
    """
    s = _encode_str
    sha256 = hashlib.sha256
    # PostgreSQL's JSON text -> canonical text; times as printed -> canonical.
    objects: dict[str, str] = {"null": "null"}
    times: dict[str, str] = {}
    leaves: list[bytes] = []
    expected = lo + 1
    first_prev: str | None = None
    prev: str | None = None
    intact = True

    def row(raw: bytes) -> None:
        nonlocal intact, expected, first_prev, prev, objects
        if not intact:  # COPY cannot be stopped midway: after a surprise the rest is only read
            return
        try:
            line = raw.decode()
            (
                seq,
                stored_prev,
                stored_hash,
                action,
                actor_id,
                actor_name,
                actor_type,
                agency_id,
                time,
                request_id,
                ip,
                target_id,
                target_repr,
                target_type,
                after,
                before,
                version,
            ) = line.split("\t") if "\\" not in line else _copy_fields(line)
            if version != "1\n" or seq != str(expected):
                intact = False
                return
            if stored_prev != prev:
                if prev is not None:
                    intact = False
                    return
                first_prev = stored_prev
            when = times.get(time)
            if when is None:
                # '2026-12-07 01:02:03.45' -> '2026-12-07T01:02:03.450000Z' (PostgreSQL
                # drops trailing zeros of the fraction, and the fraction itself when zero).
                when = times[time] = f"{time[:10]}T{time[11:19]}{(time[19:] or '.') + '000000':.7}Z"
            after_text = objects.get(after)
            if after_text is None:
                if len(objects) > 50_000:
                    objects = {"null": "null"}
                after_text = objects[after] = _canonical_object(after)
            before_text = objects.get(before)
            if before_text is None:
                before_text = objects[before] = _canonical_object(before)
            # The leaf's 0x00 prefix, then the event's canonical text: the chain hash
            # reads the same buffer from its second byte.
            data = (
                f'\x00{{"action":{s(action)},"actor_id":{s(actor_id)},"actor_name":'
                f'{s(actor_name)},"actor_type":{s(actor_type)},"after":{after_text}'
                f',"agency_id":{agency_id},"before":{before_text},"occurred_at":"{when}"'
                f',"prev_hash":{s(stored_prev)},"request_id":{s(request_id)},"seq":{seq}'
                f',"source_ip":{"null" if ip == "null" else s(ip)},"target_id":{s(target_id)}'
                f',"target_repr":{s(target_repr)},"target_type":{s(target_type)},"v":1}}'
            ).encode()
            if sha256(memoryview(data)[1:]).hexdigest() != stored_hash:
                intact = False
                return
            leaves.append(sha256(data).digest())
        except Exception:  # noqa: BLE001  (a row this pass cannot read: the exact pass will)
            intact = False
            return
        prev = stored_hash
        expected += 1

    # The chunk read as a walk of the primary key, so it comes out in seq order as it
    # is read: with no statistics (a bench table) the planner took a bitmap scan and
    # sorted each chunk of 65,536 events on disk (190 against 114 ms of the backend).
    with planner_without(cursor, "enable_sort"):
        cursor.copy_expert(_COPY_SQL % (lo, hi), _RowSink(row))
    count = expected - lo - 1
    if not intact or not count:
        return None  # (nothing at all in the range: the exact pass says what is missing)
    return ChunkResult(
        rows=count,
        first_seq=lo + 1,
        first_prev=first_prev or "",
        last_seq=expected - 1,
        last_hash=prev or "",
        checked=count,
        leaves=b"".join(leaves),
        tiles=_tile_roots(leaves) if lo % TILE == 0 and count == hi - lo else None,
    )


def check_chunk(cursor, lo: int, hi: int) -> ChunkResult:
    """Hashes of every event with lo < seq <= hi, and the links between them.

    ``cursor`` is a PostgreSQL cursor, or None to read through the ORM.
    """
    if cursor is not None:
        fast = _fast_chunk(cursor, lo, hi)
        if fast is not None:
            return fast
    result = ChunkResult()
    leaves = bytearray()
    sha256 = hashlib.sha256
    prev_seq: int | None = None
    prev_hash = ""
    rows = text_rows(cursor, lo, hi) if cursor is not None else _model_rows(lo, hi)
    for seq, version, stored_prev, stored_hash, data in rows:
        leaves += sha256(b"\x00" + data).digest() if data is not None else UNKNOWN_LEAF
        if prev_seq is None:
            result.first_seq, result.first_prev = seq, stored_prev
        if result.problem is None:
            problem = None
            if prev_seq is not None and seq != prev_seq + 1:
                problem = (prev_seq + 1, f"seq {prev_seq + 1} is missing (next is {seq})")
            elif prev_seq is not None and stored_prev != prev_hash:
                problem = (seq, f"seq {seq} does not link to seq {seq - 1}")
            elif data is None:
                problem = (
                    seq,
                    f"seq {seq} has unknown hash version {version} "
                    "(forged, or written by a newer Sundown)",
                )
            elif sha256(data).hexdigest() != stored_hash:
                problem = (seq, f"seq {seq} was altered (hash mismatch)")
            if problem:
                result.problem = problem
            else:
                result.checked += 1
        prev_seq, prev_hash = seq, stored_hash
        result.rows += 1
    if prev_seq is not None:
        result.last_seq, result.last_hash = prev_seq, prev_hash
    result.leaves = bytes(leaves)
    if lo % TILE == 0 and result.rows == hi - lo:
        # The tree's tiles, hashed here while the leaves are at hand: in a worker process
        # this is the tree's bottom eight levels done in parallel too.
        result.tiles = [
            merkle.root_of([result.leaves[i : i + 32] for i in range(start, start + TILE * 32, 32)])
            for start in range(0, len(result.leaves) - TILE * 32 + 1, TILE * 32)
        ]
    return result
