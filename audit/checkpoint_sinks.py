"""Where checkpoints go besides the database: places the database's users cannot rewrite.

``SUNDOWN_CHECKPOINT_SINKS`` lists them as ``<kind>:<target>``:

- ``file:/path``: JSON lines with the leaf hashes each checkpoint adds (below);
- ``siem:<name>``: the SIEM sink of that name (`audit.sinks`: syslog over TLS,
  signed webhook, file), sent ``{"size", "note"}`` with topic ``checkpoint``.
"""

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.models import Checkpoint


class CheckpointSink(Protocol):
    def ship(self, checkpoint: Checkpoint) -> None: ...


def sinks_configured() -> list[CheckpointSink]:
    sinks: list[CheckpointSink] = []
    for spec in settings.SUNDOWN_CHECKPOINT_SINKS:
        kind, _, target = spec.partition(":")
        if kind not in _KINDS:
            raise ImproperlyConfigured(f"unknown checkpoint sink kind {kind!r} in {spec!r}")
        sinks.append(_KINDS[kind](target))
    return sinks


def last_line(path: Path) -> bytes:
    """The last complete line of a file, read from its end (lines may be megabytes)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        position, tail = end, b""
        while position > 0:
            step = min(65536, position)
            position -= step
            fh.seek(position)
            tail = fh.read(step) + tail
            if tail.count(b"\n") >= 2 or position == 0:
                break
    lines = tail.rstrip(b"\n").split(b"\n")
    return lines[-1] if lines else b""


class CheckpointFileSink:
    """Append-only JSON lines, one per checkpoint, with the leaf hashes it adds.

    Each line is ``{"note", "size", "leaves_from", "leaf_hashes"}``: the signed note
    and the base64 leaf hashes since the previous line, so `audit_verify
    --checkpoints` can name the exact first event that differs, not just "one of
    the events before size N". Point it at a directory the application cannot
    rewrite (another host's mount, `chattr +a`, object lock); the file is only ever
    opened for appending.
    """

    def __init__(self, target: str):
        self.path = Path(target)

    def __str__(self):
        return f"file:{self.path}"

    def _shipped_size(self) -> int:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        try:
            return int(json.loads(last_line(self.path))["size"])
        except (ValueError, KeyError, TypeError):
            return 0

    def ship(self, checkpoint: Checkpoint) -> None:
        from audit.tree import leaf_hashes

        start = self._shipped_size()
        record: dict = {"size": checkpoint.size, "note": checkpoint.note}
        if start <= checkpoint.size:
            record["leaves_from"] = start
            record["leaf_hashes"] = base64.b64encode(
                b"".join(leaf_hashes(start, checkpoint.size))
            ).decode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


class SiemCheckpointSink:
    """A checkpoint as one JSON line to a SIEM sink of `audit.sinks` (topic "checkpoint")."""

    def __init__(self, target: str):
        from audit.sinks import configured_sinks

        sinks = configured_sinks()
        if target not in sinks:
            raise ImproperlyConfigured(f"checkpoint sink siem:{target}: no such SIEM sink")
        self.sink = sinks[target]

    def __str__(self):
        return f"siem:{self.sink.name}"

    def ship(self, checkpoint: Checkpoint) -> None:
        line = json.dumps({"size": checkpoint.size, "note": checkpoint.note})
        self.sink.send([line], topic="checkpoint")


_KINDS: dict[str, Callable[[str], CheckpointSink]] = {
    "file": CheckpointFileSink,
    "siem": SiemCheckpointSink,
}
