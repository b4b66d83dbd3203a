"""SSH keys in an account's ``authorized_keys`` on an OpenSSH host.

A credential's ``external_id`` is the key's SHA256 fingerprint as ``ssh-keygen -l``
prints it (``SHA256:`` plus unpadded base64).

``system.config``: ``host``, ``port`` (22), ``user`` (the account Sundown logs in
as), ``account`` (whose ``authorized_keys``; default ``user``), ``host_key``
(required: the server's public host key line, e.g. ``ssh-ed25519 AAAA...``, as in
``/etc/ssh/ssh_host_ed25519_key.pub``; there is no trust-on-first-use, a different
key is a permanent error), ``authorized_keys`` (default ``~account/.ssh/
authorized_keys``), ``timeout`` (seconds, 5: to connect, to log in, and for each
read of a command's output, so a stalled host fails the call there as a transient
error), ``on_revoke``: ``"remove"`` (default)
or ``"krl"`` with ``krl_path`` (the file sshd's ``RevokedKeys`` names),
``end_sessions``: ``"key"`` (default), ``"account"`` or ``"none"``. The secret is
the private key Sundown logs in with (OpenSSH or PEM text, unencrypted).

The login account needs write access to the file (and the KRL), and to other
accounts' processes when it ends sessions: root, or ``account`` itself.

``remove`` drops every line whose key has the fingerprint, keeps all other lines,
comments and options byte for byte, and replaces the file atomically (a temp file
with the same owner and mode, then ``mv``) only if it did not change since it was
read. ``krl`` adds ``hash: <fingerprint>`` to a copy of the KRL with ``ssh-keygen
-k -u`` and moves it into place; the key stays in ``authorized_keys`` and sshd
refuses it. Verify reads the file back (and in ``krl`` mode asks ``ssh-keygen -Q``
of each listed key); it does not read sshd's config, so ``krl_path`` must be the
file ``RevokedKeys`` names.

Sessions: sshd does not record which key opened a session unless ``ExposeAuthInfo
yes`` is set; then each session's processes carry ``SSH_USER_AUTH``, a file naming
the key. With ``end_sessions: key`` Sundown reads that for the account's processes,
kills the sessions of the revoked keys (their sshd process) and counts a key with
a live session as still active. Without ``ExposeAuthInfo`` such sessions cannot be
seen or told apart: ``end_sessions: account`` then kills every process of the
account (except Sundown's own session), which also ends other people's sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import shlex
from collections.abc import Iterable

import paramiko

from access.models import Credential
from revocation.connectors.meta.ssh import META

from .base import Account, BatchConnector, ConnectorError

REMOVE = "remove"
KRL = "krl"
KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def fingerprint(blob_b64: str) -> str | None:
    """``SHA256:...`` of a base64 key blob; None when it is not base64."""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_line(line: str) -> tuple[str, str, str, str] | None:
    """``(options, type, blob, comment)`` of an authorized_keys line, None for others.

    Options come first when the line does not start with a key type; they end at
    the first space outside double quotes (``command="a b"`` is one option).
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    options = ""
    if not text.startswith(KEY_TYPE_PREFIXES):
        quoted = False
        for i, char in enumerate(text):
            if char == '"':
                quoted = not quoted
            elif char in " \t" and not quoted:
                options, text = text[:i], text[i:].lstrip()
                break
        else:
            return None
    parts = text.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(KEY_TYPE_PREFIXES):
        return None
    return options, parts[0], parts[1], parts[2] if len(parts) > 2 else ""


class SSHConnector(BatchConnector):
    """Removes (or KRL-revokes) vendor keys over one SSH connection per batch."""

    config_keys = META.config_keys
    # Where Sundown's private key is presented, and which server it trusts to get it.
    destination_keys = frozenset({"host", "port", "user", "host_key"})
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        return [cls.host_port(config, 22)]

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (REMOVE, KRL))
        self.end_sessions = self.choice("end_sessions", ("key", "account", "none"))
        # Fingerprint -> the sshd pids of its open sessions, from the last _sessions().
        self.session_leaders: dict[str, set[int]] = {}
        self.host = self.config.get("host") or ""
        self.user = self.config.get("user") or ""
        if not self.host or not self.user:
            raise ConnectorError("SSH systems need a host and a user", permanent=True)
        self.account = self.config.get("account") or self.user
        self.port = int(self.config.get("port", 22))
        self.timeout = float(self.config.get("timeout", 5))
        self.krl_path = self.config.get("krl_path") or ""
        if self.on_revoke == KRL and not self.krl_path:
            raise ConnectorError("SSH systems with on_revoke 'krl' need a krl_path", permanent=True)
        if self.end_sessions == "account" and self.account == self.user:
            raise ConnectorError(
                "end_sessions 'account' would kill Sundown's own login: use another user",
                permanent=True,
            )
        host_key = (self.config.get("host_key") or "").split()
        if len(host_key) < 2:
            raise ConnectorError(
                "SSH systems need host_key, the server's public host key line "
                "('ssh-ed25519 AAAA...'): Sundown does not trust on first use",
                permanent=True,
            )
        try:
            self.host_key = paramiko.PKey.from_type_string(
                host_key[0], base64.b64decode(host_key[1])
            )
        except (paramiko.SSHException, binascii.Error, ValueError) as exc:
            raise ConnectorError(
                f"SSH host_key is not a public key: {exc}", permanent=True
            ) from exc
        self._client: paramiko.SSHClient | None = None
        self._path: str | None = None

    # Connection ------------------------------------------------------------
    def _private_key(self) -> paramiko.PKey:
        secret = self.system.get_secret() or ""
        for cls in KEY_CLASSES:
            try:
                return cls.from_private_key(io.StringIO(secret))
            except (paramiko.SSHException, ValueError):
                continue
        raise ConnectorError(
            "The system's secret is not an unencrypted SSH private key", permanent=True
        )

    @property
    def client(self) -> paramiko.SSHClient:
        if self._client is None:
            # The address just checked against the allowlist, not the name again (it
            # could resolve elsewhere by now); the pinned key is the trust anchor.
            [addresses] = self.checked_destinations()
            address = str(addresses[0])
            client = paramiko.SSHClient()
            name = address if self.port == 22 else f"[{address}]:{self.port}"
            client.get_host_keys().add(name, self.host_key.get_name(), self.host_key)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(
                    address,
                    port=self.port,
                    username=self.user,
                    pkey=self._private_key(),
                    timeout=self.timeout,
                    banner_timeout=self.timeout,
                    auth_timeout=self.timeout,
                    channel_timeout=self.timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except paramiko.BadHostKeyException as exc:
                client.close()
                raise ConnectorError(
                    f"SSH host key of {self.host}:{self.port} is not the pinned one "
                    f"(got {exc.key.get_name()} {exc.key.fingerprint}): check host_key",
                    permanent=True,
                ) from exc
            except paramiko.AuthenticationException as exc:
                client.close()
                raise ConnectorError(
                    f"SSH refused Sundown's key for {self.user!r}: {exc}", permanent=True
                ) from exc
            except (paramiko.SSHException, OSError, EOFError) as exc:
                client.close()
                raise self.connect_failed(exc) from exc
            self._client = client
        return self._client

    def probe(self) -> None:
        _ = self.client  # connects, checks the pinned host key, logs in

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self, script: str, stdin: str = "") -> tuple[int, str, str]:
        try:
            channel_in, out, err = self.client.exec_command(script, timeout=self.timeout)
            if stdin:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            text, error = out.read().decode(), err.read().decode()
            return out.channel.recv_exit_status(), text, error
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            # A dropped or silent connection: the host, not this key, is the problem.
            raise ConnectorError(
                f"SSH command failed on {self.host}: {exc}", unreachable=True
            ) from exc

    def _check(self, script: str, stdin: str = "", what: str = "") -> str:
        status, out, err = self._run(script, stdin)
        if status != 0:
            raise ConnectorError(
                f"{what} failed on {self.host} ({status}): {err.strip()}", permanent=True
            )
        return out

    # The file --------------------------------------------------------------
    @property
    def path(self) -> str:
        if self._path is None:
            configured = self.config.get("authorized_keys")
            if configured:
                self._path = configured
            else:
                home = self._check(
                    f"getent passwd {shlex.quote(self.account)} | cut -d: -f6",
                    what=f"looking up {self.account!r}",
                ).strip()
                if not home:
                    raise ConnectorError(
                        f"No account {self.account!r} on {self.host}", permanent=True
                    )
                self._path = f"{home}/.ssh/authorized_keys"
        return self._path

    def _read_file(self) -> str:
        path = shlex.quote(self.path)
        # A missing file means no keys; anything else unreadable is an error.
        return self._check(f"if [ -e {path} ]; then cat {path}; fi", what=f"reading {self.path}")

    def _keys(self, text: str) -> dict[str, list[str]]:
        """Fingerprint -> the listed lines with that key."""
        keys: dict[str, list[str]] = {}
        for line in text.splitlines():
            parsed = parse_line(line)
            if parsed and (fp := fingerprint(parsed[2])):
                keys.setdefault(fp, []).append(f"{parsed[1]} {parsed[2]}")
        return keys

    def _revoked_in_krl(self, keys: dict[str, list[str]]) -> set[str]:
        """Fingerprints that ``ssh-keygen -Q`` finds revoked in the KRL."""
        fps = list(keys)
        if not fps:
            return set()
        krl = shlex.quote(self.krl_path)
        script = (
            f"[ -r {krl} ] || {{ echo 'cannot read the KRL' >&2; exit 2; }}; t=$(mktemp); "
            'while IFS= read -r line; do printf \'%s\\n\' "$line" > "$t"; '
            f'out=$(ssh-keygen -Q -f {krl} "$t" 2>&1); case "$out" in '
            '*": REVOKED"*) echo revoked;; *": ok"*) echo ok;; '
            '*) echo "$out" >&2; rm -f "$t"; exit 3;; esac; done; rm -f "$t"'
        )
        lines = "".join(keys[fp][0] + "\n" for fp in fps)
        answers = self._check(script, lines, what=f"querying {self.krl_path}").split()
        if len(answers) != len(fps):
            raise ConnectorError(f"Unexpected ssh-keygen -Q answer: {answers!r}", permanent=True)
        return {fp for fp, answer in zip(fps, answers, strict=True) if answer == "revoked"}

    # Sessions --------------------------------------------------------------
    def _sessions(self) -> dict[str, set[int]]:
        """Fingerprint -> pids of the account's sessions: their processes and their
        sshd (needs ExposeAuthInfo)."""
        uid = shlex.quote(self.account)
        script = (
            f"u=$(id -u {uid}) || exit 2; for p in /proc/[0-9]*; do "
            '[ "$(stat -c %u "$p" 2>/dev/null)" = "$u" ] || continue; '
            "f=$(tr '\\0' '\\n' < \"$p/environ\" 2>/dev/null | sed -n 's/^SSH_USER_AUTH=//p'); "
            '[ -n "$f" ] || continue; '
            # The session leader (field 4 after the command name) is the child of
            # the session's sshd; the vendor's processes may be nested deeper.
            "s=$(sed 's/.*) //' \"$p/stat\" | cut -d' ' -f4); "
            "pp=$(sed 's/.*) //' \"/proc/$s/stat\" 2>/dev/null | cut -d' ' -f2); "
            'k=$(head -n1 "$f" 2>/dev/null); echo "${p#/proc/} ${pp:-0} $k"; done'
        )
        self.session_leaders = {}
        found: dict[str, set[int]] = {}
        for line in self._check(script, what="listing sessions").splitlines():
            parts = line.split()
            # "<pid> <sshd pid> publickey <type> <blob>"
            if len(parts) >= 5 and parts[2] == "publickey" and (fp := fingerprint(parts[4])):
                found.setdefault(fp, set()).update(int(p) for p in parts[:2] if int(p) > 1)
                if int(parts[1]) > 1:
                    # One sshd per connection: how many sessions the key has open.
                    self.session_leaders.setdefault(fp, set()).add(int(parts[1]))
        return found

    def _end_sessions(self, fps: set[str]) -> None:
        if self.end_sessions == "none":
            return
        if self.end_sessions == "account":
            self._run(f"pkill -KILL -u {shlex.quote(self.account)}")
            return
        pids = sorted({pid for fp, ps in self._sessions().items() if fp in fps for pid in ps})
        if pids:
            # The session's sshd (killing it closes the connection) and the processes
            # themselves (without a terminal, nothing sends them SIGHUP).
            self._run("kill -KILL " + " ".join(str(p) for p in pids))

    # Connector interface ---------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        credentials = list(credentials)
        results: dict[int, ConnectorError | None] = {c.pk: None for c in credentials}
        wanted = {c.external_id for c in credentials}
        if not wanted:
            return results
        if self.on_revoke == REMOVE:
            self._remove(wanted)
        else:
            self._krl_add(wanted)
        self._end_sessions(wanted)
        return results

    def _remove(self, wanted: set[str]) -> None:
        text = self._read_file()
        lines = text.splitlines(keepends=True)
        kept = []
        for line in lines:
            parsed = parse_line(line)
            if parsed and fingerprint(parsed[2]) in wanted:
                continue
            kept.append(line)
        if len(kept) == len(lines):
            return  # nothing to remove: already gone
        path = shlex.quote(self.path)
        digest = hashlib.sha256(text.encode()).hexdigest()
        script = (
            f'set -e; t={path}.sundown.$$; umask 077; cat > "$t"; '
            f'chown --reference={path} "$t"; chmod --reference={path} "$t"; '
            f'if [ "$(sha256sum < {path} | cut -d" " -f1)" != {digest} ]; then '
            f'rm -f "$t"; echo changed >&2; exit 75; fi; mv -f "$t" {path}'
        )
        status, _, err = self._run(script, "".join(kept))
        if status == 75:
            raise ConnectorError(f"{self.path} changed while Sundown edited it; will retry")
        if status != 0:
            raise ConnectorError(f"Rewriting {self.path} failed: {err.strip()}", permanent=True)

    def _krl_add(self, wanted: set[str]) -> None:
        krl = shlex.quote(self.krl_path)
        spec = "".join(f"hash: {fp}\n" for fp in sorted(wanted))
        script = (
            f'set -e; t={krl}.sundown.$$; s=$(mktemp); cat > "$s"; cp -p {krl} "$t"; '
            f'ssh-keygen -k -u -f "$t" "$s" 2>&1 >/dev/null | grep -v "^Revoking" >&2 || true; '
            f'rm -f "$s"; mv -f "$t" {krl}'
        )
        self._check(script, spec, what=f"updating {self.krl_path}")

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        if not credentials:
            return set()
        keys = self._keys(self._read_file())
        usable = set(keys)
        if self.on_revoke == KRL:
            usable -= self._revoked_in_krl(keys)
        # A key whose session is still open still has access, wherever the file stands.
        if self.end_sessions != "none":
            usable |= set(self._sessions())
        return {c.pk for c in credentials if c.external_id in usable}

    def list_accounts(self) -> list[Account]:
        text = self._read_file()
        keys = self._keys(text)
        revoked = self._revoked_in_krl(keys) if self.on_revoke == KRL else set()
        # Who is connected now, per key: only sshd's ExposeAuthInfo tells (end_sessions
        # "key"); otherwise sessions cannot be told apart and count as none.
        if self.end_sessions == "key":
            self._sessions()
        sessions = self.session_leaders if self.end_sessions == "key" else {}
        accounts = []
        seen = set()
        for line in text.splitlines():
            parsed = parse_line(line)
            fp = fingerprint(parsed[2]) if parsed else None
            if not parsed or not fp or fp in seen:
                continue
            seen.add(fp)
            detail = " ".join(p for p in (parsed[1], parsed[3], parsed[0]) if p)
            if fp in revoked:
                detail += " (revoked in KRL)"
            accounts.append(
                Account(
                    external_id=fp,
                    active=fp not in revoked,
                    detail=detail,
                    sessions=len(sessions.get(fp, ())),
                )
            )
        return accounts
