"""Users in an htpasswd file: the basic-auth password files that Apache httpd
(``AuthUserFile``), nginx (``auth_basic_user_file``), container registries, Traefik and
many small services read to let people in.

A credential's ``external_id`` is the user name as the file spells it (case matters).

``system.config``: ``path``, the file's absolute path on the workers' file system
(below one of ``SUNDOWN_LOCAL_TARGET_ROOTS``, which is empty in production until an
operator lists directories; no symbolic links are followed below the root, and a file
with other hard links is refused), ``timeout`` (seconds to wait for another Sundown
worker editing the same file, 5), ``on_revoke``: ``"disable"`` (default) or
``"delete"``. There is no secret: the worker's own file permissions are the access.
It needs write access to the file's directory (the new file is renamed into place)
and, to keep an owner other than itself, to run as root or as that owner.

``disable`` puts ``!`` in front of the user's password hash. No hash scheme starts
with ``!`` (bcrypt ``$2y$``, ``$apr1$``, ``{SHA}``, crypt), and a crypt() of any
password is never that string, so Apache and nginx refuse every password for the
user while the line stays for a person to see (and to re-enable by removing the
``!``). ``delete`` removes the user's lines. Either way every other line (other
users, comments, blank lines, line endings) is kept byte for byte, and the file is
replaced atomically: a new file in the same directory with the old one's owner and
mode, flushed to disk, renamed over the old one, and only if the file did not change
since it was read (Sundown's own workers take turns with a lock on the directory; an
edit by someone else in between is a retry). A reader sees the old file or the new
one, never half of one. ACLs and extended attributes are not copied.

Verify reads the file back: a user is active while any of its lines (leading and
trailing spaces in the name ignored, as Apache does) has a hash that does not start
with ``!``. Basic auth keeps no sessions: the password travels with every request,
and Apache and nginx read the file on each request, so the next request is refused.
Programs that load the file once at start-up keep the old list until they reload it;
Sundown cannot see that, so check how yours reads it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass

from access.destinations import (
    DestinationRefused,
    LocalPathMissing,
    local_dir_open,
)
from access.models import Credential
from revocation.connectors.meta.htpasswd import META

from .base import Account, BatchConnector, ConnectorError

DISABLE, DELETE = "disable", "delete"
DISABLED_MARK = b"!"
# htpasswd files hold a line per user; anything this large is not one.
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One user line: its index in the file, the user name and the hash field."""

    index: int
    user: str
    hash: bytes

    @property
    def disabled(self) -> bool:
        return self.hash.startswith(DISABLED_MARK)


def entries(lines: list[bytes]) -> list[Entry]:
    """The user lines of a file split with ``keepends``; comments, blanks and lines
    without a ``:`` are not users (Apache and nginx skip them too)."""
    found = []
    for index, line in enumerate(lines):
        text = line.rstrip(b"\r\n")
        if not text.strip() or text.lstrip().startswith(b"#") or b":" not in text:
            continue
        user, _, rest = text.partition(b":")
        # The hash ends at the next ':' for Apache and nginx alike ("user:hash:comment").
        found.append(Entry(index, user.strip().decode("utf-8", "replace"), rest.split(b":", 1)[0]))
    return found


def scheme(hash_field: bytes) -> str:
    """A short name of the hash scheme, for people reading the account list."""
    bare = hash_field.removeprefix(DISABLED_MARK)
    for prefix, name in (
        (b"$2", "bcrypt"),
        (b"$apr1$", "MD5 (apr1)"),
        (b"{SHA}", "SHA-1, unsalted"),
        (b"$5$", "SHA-256 crypt"),
        (b"$6$", "SHA-512 crypt"),
        (b"{PLAIN}", "plain text"),
    ):
        if bare.startswith(prefix):
            return name
    return "crypt" if len(bare) == 13 else "unknown scheme"


def valid_user(name: str) -> bool:
    return bool(name) and name == name.strip() and not any(c in name for c in ":\r\n")


class HtpasswdConnector(BatchConnector):
    """Disables or deletes users in a local htpasswd file: one read and one atomic
    rewrite per batch."""

    config_keys = META.config_keys
    # No secret goes anywhere; the path is what says which file the system is.
    destination_keys = frozenset({"path"})
    config_help = META.config_help

    @classmethod
    def local_paths(cls, config: dict) -> list:
        return [config["path"]] if config.get("path") else []

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (DISABLE, DELETE))
        self.path = self.config.get("path") or ""
        if not self.path:
            raise ConnectorError("htpasswd systems need a path", permanent=True)
        try:
            self.timeout = float(self.config.get("timeout", 5))
        except (TypeError, ValueError):
            raise ConnectorError(
                "htpasswd systems: timeout must be a number", permanent=True
            ) from None

    # The file --------------------------------------------------------------
    def _open_dir(self) -> tuple[int, str]:
        """The directory's descriptor (checked against the roots now) and the file name."""
        try:
            fd, where = local_dir_open(self.path)
        except DestinationRefused as exc:
            raise ConnectorError(str(exc), permanent=True) from exc
        except LocalPathMissing as exc:
            # A mount that is not there yet, a directory not made: the retry ladder
            # waits, then a person gets the manual task.
            raise ConnectorError(f"{exc} (not mounted?)", unreachable=True) from exc
        except OSError as exc:
            raise self._os_error(exc) from exc
        return fd, where.name

    def _os_error(self, exc: OSError) -> ConnectorError:
        if isinstance(exc, PermissionError):
            return ConnectorError(
                f"The worker may not read or replace {self.path}: {exc.strerror} "
                f"(it runs as uid {os.geteuid()})",
                permanent=True,
            )
        return ConnectorError(f"Reading or replacing {self.path} failed: {exc}")

    def _read(self, dir_fd: int, name: str) -> tuple[bytes, os.stat_result]:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except FileNotFoundError as exc:
            raise ConnectorError(
                f"{self.path} does not exist (not mounted?)", unreachable=True
            ) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConnectorError(
                    f"{self.path} is a symbolic link: Sundown does not follow them",
                    permanent=True,
                ) from exc
            raise self._os_error(exc) from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ConnectorError(f"{self.path} is not a regular file", permanent=True)
            if info.st_nlink != 1:
                # Another name for the same file may be outside the root.
                raise ConnectorError(
                    f"{self.path} has other hard links: Sundown edits only a file with one name",
                    permanent=True,
                )
            if info.st_size > MAX_BYTES:
                raise ConnectorError(f"{self.path} is too large for an htpasswd file")
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks), info
        except OSError as exc:
            raise self._os_error(exc) from exc
        finally:
            os.close(fd)

    def _entries(self) -> list[Entry]:
        dir_fd, name = self._open_dir()
        try:
            data, _ = self._read(dir_fd, name)
        finally:
            os.close(dir_fd)
        return entries(data.splitlines(keepends=True))

    def _lock(self, dir_fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConnectorError(
                        f"Another Sundown worker is editing {self.path}; will retry"
                    ) from None
                time.sleep(0.05)

    def _replace(self, dir_fd: int, name: str, old: bytes, info: os.stat_result, new: bytes):
        """Write ``new`` beside the file and rename it over ``name`` if ``name`` still
        holds ``old`` (compared by content, under the directory lock)."""
        temp = f".{name}.sundown-{secrets.token_hex(6)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
        renamed = False
        try:
            view = memoryview(new)
            while view:
                view = view[os.write(fd, view) :]
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, info.st_uid, info.st_gid)
                except PermissionError as exc:
                    raise ConnectorError(
                        f"Cannot keep the owner of {self.path} ({info.st_uid}:{info.st_gid}): "
                        f"run the worker as root or as that owner (it runs as uid "
                        f"{os.geteuid()})",
                        permanent=True,
                    ) from exc
            os.fchmod(fd, stat.S_IMODE(info.st_mode))
            os.fsync(fd)
            current, _ = self._read(dir_fd, name)
            if hashlib.sha256(current).digest() != hashlib.sha256(old).digest():
                raise ConnectorError(f"{self.path} changed while Sundown edited it; will retry")
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            renamed = True
            os.fsync(dir_fd)
        except OSError as exc:
            raise self._os_error(exc) from exc
        finally:
            os.close(fd)
            if not renamed:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)

    # Connector interface ---------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        credentials = list(credentials)
        results: dict[int, ConnectorError | None] = {}
        wanted = set()
        for credential in credentials:
            if valid_user(credential.external_id):
                results[credential.pk] = None
                wanted.add(credential.external_id)
            else:
                results[credential.pk] = ConnectorError(
                    f"{credential.external_id!r} is not an htpasswd user name "
                    "(no ':', line breaks or surrounding spaces)",
                    permanent=True,
                )
        if not wanted:
            return results
        dir_fd, name = self._open_dir()
        try:
            self._lock(dir_fd)
            old, info = self._read(dir_fd, name)
            lines = old.splitlines(keepends=True)
            changed = False
            for entry in entries(lines):
                if entry.user not in wanted:
                    continue
                if self.on_revoke == DELETE:
                    lines[entry.index] = b""
                    changed = True
                elif not entry.disabled:
                    user, colon, rest = lines[entry.index].partition(b":")
                    lines[entry.index] = user + colon + DISABLED_MARK + rest
                    changed = True
            if changed:  # nothing to change: already gone (never create what we revoke)
                self._replace(dir_fd, name, old, info, b"".join(lines))
        finally:
            os.close(dir_fd)  # also releases the lock
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        if not credentials:
            return set()
        found = self._entries()
        # After "delete" a line at all is too much; after "disable", an enabled one.
        usable = {e.user for e in found if self.on_revoke == DELETE or not e.disabled}
        return {c.pk for c in credentials if c.external_id in usable}

    def list_accounts(self) -> list[Account]:
        accounts: dict[str, Account] = {}
        for entry in self._entries():
            earlier = accounts.get(entry.user)
            active = not entry.disabled or bool(earlier and earlier.active)
            detail = scheme(entry.hash) + ("" if active else ", disabled")
            if earlier:
                detail = f"{detail}; the user has more than one line"
            accounts[entry.user] = Account(external_id=entry.user, active=active, detail=detail)
        return list(accounts.values())
