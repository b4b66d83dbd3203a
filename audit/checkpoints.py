"""Signed checkpoints of the Merkle tree (C2SP tlog-checkpoint, signed-note Ed25519).

A hash chain proves order and integrity only against someone who cannot rewrite
the whole table. A checkpoint (origin, tree size, root hash) signed with a key
that lives outside the database, and shipped somewhere the database's users
cannot rewrite, catches an attacker who recomputes every hash after an edit, who
deletes the tail and rewinds the head, or who empties the table: the signed root
no longer matches the tree rebuilt from today's events.
"""

import base64
import binascii
import logging
import re

from django.db import transaction

from audit import merkle
from audit.checkpoint_sinks import sinks_configured
from audit.models import Checkpoint
from audit.signing import SigningKey, signing_key
from audit.tree import Tree, tree_extend, tree_size

logger = logging.getLogger("sundown.audit.checkpoint")

_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")


class CheckpointError(Exception):
    """A checkpoint cannot be made or read."""


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def checkpoint_parse(text: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint's note text; extension lines are ignored."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
        raise CheckpointError("a checkpoint is at least three non-empty lines")
    origin, size, root = lines[:3]
    if not _SIZE.match(size):
        raise CheckpointError(f"bad tree size {size!r}")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error as exc:
        raise CheckpointError(f"bad root hash {root!r}") from exc
    if len(digest) != 32:
        raise CheckpointError(f"bad root hash {root!r}")
    return origin, int(size), digest


def checkpoint_create(*, key: SigningKey | None = None, ship: bool = True) -> Checkpoint:
    """Sign the tree at the current head, store the checkpoint and ship it to the sinks.

    Refuses (CheckpointError, logged as critical) when today's tree is not an
    extension of the last checkpoint: a log must never sign two inconsistent trees,
    and that refusal is the alarm for a rewritten or truncated trail.
    """
    key = key or signing_key()
    tree_extend()
    size = tree_size()
    tree = Tree(size)
    root = tree.root()
    previous = Checkpoint.objects.order_by("-size", "-id").first()
    if previous is not None:
        old_root = bytes(previous.root_hash)
        consistent = previous.size <= size and merkle.verify_consistency(
            previous.size, size, old_root, root, tree.consistency_proof(previous.size)
        )
        if not consistent:
            message = (
                f"refusing to sign the tree at size {size}: it is not an extension of the "
                f"checkpoint at size {previous.size} (events rewritten or removed)"
            )
            logger.critical(message)
            raise CheckpointError(message)
    note = key.sign_note(checkpoint_text(key.name, size, root))
    with transaction.atomic():
        checkpoint = Checkpoint.objects.create(size=size, root_hash=root, note=note)
    logger.info("checkpoint size=%s root=%s", size, base64.b64encode(root).decode())
    if ship:
        for sink in sinks_configured():
            try:
                sink.ship(checkpoint)
            except Exception:
                # One unreachable sink must not stop the others, nor the next beat.
                logger.exception("could not ship the checkpoint at size %s to %s", size, sink)
    return checkpoint


def checkpoint_for(size: int) -> Checkpoint | None:
    """The smallest stored checkpoint covering the first ``size`` events."""
    return Checkpoint.objects.filter(size__gte=size).order_by("size", "id").first()
