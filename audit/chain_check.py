"""Recomputing the hash chain in chunks of seq, in this process or in several.

One chunk's own check is ``audit.chain_chunks``; here the chunks are handed out and
merged.

Each chunk is read with plain SQL, the time already formatted by the database and
``before``/``after`` as their JSON text (an object seen before is not parsed again),
and checked on its own: every hash, and every link inside the chunk. Whoever merges
the chunks checks the links at their borders (a chunk's first event must follow the
last event of the one before), so the report is the one a single pass would give:
the first bad seq, with the same message.

With ``workers`` > 1 the chunks go to that many processes, the parent being one of
them (PostgreSQL; SQLite checks them in this process). They read one snapshot,
exported by the parent's REPEATABLE READ transaction, so they see the same trail as
the head read beside it, however many appends land meanwhile; they cannot see a
transaction the caller has not committed.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from audit.chain_chunks import TILE, ChunkResult, check_chunk
from audit.hashing import GENESIS_HASH

# Events per chunk handed to a process (whole tiles).
# Small enough that the processes finish together (the last chunk taken is at most ~0.1 s
# of one process's work), big enough that a chunk's own costs (its query, its result
# sent back) stay under 1% of it.
CHUNK_EVENTS = 64 * TILE


@dataclass
class ChainState:
    """The chain as far as the merged chunks go."""

    checked: int = 0
    expected_seq: int = 1
    prev_hash: str = GENESIS_HASH
    problem: tuple[int, str] | None = None  # the first one, in seq order
    leaf_count: int = 0
    # Tile roots of leaves [0, TILE * len(tiles)), while every chunk brought its own.
    tiles: list[bytes] | None = field(default_factory=list)


def merge(state: ChainState, chunk: ChunkResult, leaves: bytearray | None) -> None:
    """Add the next chunk: its border link first, then what it found inside."""
    if leaves is not None:
        leaves += chunk.leaves
    if state.tiles is not None and chunk.rows:
        if chunk.tiles is None or state.leaf_count != chunk.first_seq - 1:
            state.tiles = None  # leaves are not where their seq says: hash them in one place
        else:
            state.tiles += chunk.tiles
    state.leaf_count += chunk.rows
    if state.problem is not None or not chunk.rows:
        return
    if chunk.first_seq != state.expected_seq:
        expected = state.expected_seq
        state.problem = (expected, f"seq {expected} is missing (next is {chunk.first_seq})")
    elif chunk.first_prev != state.prev_hash:
        seq = chunk.first_seq
        state.problem = (seq, f"seq {seq} does not link to seq {seq - 1}")
    elif chunk.problem is not None:
        state.problem = chunk.problem
        state.checked += chunk.checked
    else:
        state.checked += chunk.rows
        state.expected_seq = chunk.last_seq + 1
        state.prev_hash = chunk.last_hash


def _ranges(low: int | None, high: int | None, size: int) -> list[tuple[int, int]]:
    if low is None or high is None:
        return []
    start = low - 1
    return [(lo, min(lo + size, high)) for lo in range(start, high, size)]


def chain_check(
    *, workers: int = 1, chunk_events: int | None = None, leaves: bytearray | None = None
) -> tuple[ChainState, tuple[int, str] | None]:
    """Every chunk merged in seq order, and the chain head (seq, hash) of the same snapshot."""
    chunk_events = chunk_events or CHUNK_EVENTS
    state = ChainState()
    if workers > 1 and connection.vendor == "postgresql":
        return _chain_check_parallel(state, workers, chunk_events, leaves)
    fresh = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if fresh and connection.vendor == "postgresql":
            # One snapshot for the events and the head, whatever is appended meanwhile
            # (inside a caller's transaction, that transaction decides).
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head, ranges = _head_and_ranges(cursor, chunk_events)
        pg = cursor if connection.vendor == "postgresql" else None
        for lo, hi in ranges:
            merge(state, check_chunk(pg, lo, hi), leaves)
    return state, head


def _head_and_ranges(cursor, chunk_events: int):
    cursor.execute("SELECT seq, hash FROM audit_chainhead WHERE id = 1")
    head = cursor.fetchone()
    cursor.execute("SELECT min(seq), max(seq) FROM audit_auditevent")
    low, high = cursor.fetchone()
    return (tuple(head) if head else None), _ranges(low, high, chunk_events)


# Set in each worker process by _worker_start: its own connection, in the parent's
# snapshot, and the chunks it shares with the parent.
_worker_cursor = None
_worker_work: tuple[list[tuple[int, int]], Any] | None = None


def _worker_start(params: dict, snapshot: str, ranges: list[tuple[int, int]], taken) -> None:
    import psycopg2

    global _worker_cursor, _worker_work
    conn = psycopg2.connect(**params)
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    _worker_cursor = conn.cursor()
    _worker_cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
    _worker_work = (ranges, taken)


def _take_chunks(cursor, ranges: list[tuple[int, int]], taken) -> dict[int, ChunkResult]:
    """Check chunks, the next one not yet taken by any process each time, until none is left."""
    done: dict[int, ChunkResult] = {}
    while True:
        with taken.get_lock():
            index = taken.value
            taken.value = index + 1
        if index >= len(ranges):
            return done
        done[index] = check_chunk(cursor, *ranges[index])


def _worker_chunks() -> dict[int, ChunkResult]:
    assert _worker_work is not None
    return _take_chunks(_worker_cursor, *_worker_work)


def _chain_check_parallel(
    state: ChainState, workers: int, chunk_events: int, leaves: bytearray | None
) -> tuple[ChainState, tuple[int, str] | None]:
    import psycopg2

    params = connection.get_connection_params()
    conn = psycopg2.connect(**params)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            head, ranges = _head_and_ranges(cursor, chunk_events)
            # fork: the children need no Django set-up, only psycopg2 and this module; they
            # never touch the parent's connection (each opens its own). The parent checks
            # chunks too, in the snapshot it exported: every process takes the next chunk
            # nobody has taken, so none idles while another has two left.
            # No more processes than chunks: a child with nothing to take only costs its start.
            context = multiprocessing.get_context("fork")
            taken = context.Value("q", 0)
            helpers = min(workers, len(ranges)) - 1
            if helpers < 1:
                done = _take_chunks(cursor, ranges, taken)
            else:
                with ProcessPoolExecutor(
                    max_workers=helpers,
                    mp_context=context,
                    initializer=_worker_start,
                    initargs=(params, snapshot, ranges, taken),
                ) as pool:
                    children = [pool.submit(_worker_chunks) for _ in range(helpers)]
                    done = _take_chunks(cursor, ranges, taken)
                    for child in children:
                        done.update(child.result())
        for index in range(len(ranges)):
            merge(state, done[index], leaves)
    finally:
        conn.close()
    return state, head
