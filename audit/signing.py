"""Ed25519 signed notes (C2SP signed-note) and the checkpoint signing key.

The private key lives in a file outside the database (``SUNDOWN_AUDIT_SIGNING_KEY_FILE``)
in the format Go's golang.org/x/mod/sumdb/note uses,
``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>``; the verifier key
is ``<name>+<key id hex>+<base64(0x01 || 32-byte public key)>``. Someone who can
check a checkpoint cannot make one, which the HMAC checkpoints could not offer.
"""

import base64
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ED25519 = b"\x01"
_NAME = re.compile(r"^[^\s+]+$")


class SigningKeyError(Exception):
    """The signing key file is missing or unreadable."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    """A named Ed25519 key that signs notes."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return _raw_public(self.private.public_key())

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    def verifier(self) -> str:
        encoded = base64.b64encode(ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def encode(self) -> str:
        seed = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        encoded = base64.b64encode(ED25519 + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def sign_note(self, text: str) -> str:
        """``text`` (ending in a newline) as a signed note with one signature line."""
        if not text.endswith("\n"):
            raise ValueError("a note's text ends with a newline")
        signature = self.private.sign(text.encode())
        line = base64.b64encode(self.key_id + signature).decode()
        return f"{text}\n\u2014 {self.name} {line}\n"


def key_generate(name: str) -> SigningKey:
    if not _NAME.match(name):
        raise ValueError("a key name is non-empty, without spaces or '+'")
    return SigningKey(name=name, private=Ed25519PrivateKey.generate())


def key_parse(text: str) -> SigningKey:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise SigningKeyError("not a PRIVATE+KEY+<name>+<id>+<key> signing key")
    name, id_hex, encoded = parts[2:]
    raw = base64.b64decode(encoded)
    if raw[:1] != ED25519 or len(raw) != 33:
        raise SigningKeyError("not an Ed25519 signing key")
    key = SigningKey(name=name, private=Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if key.key_id.hex() != id_hex:
        raise SigningKeyError("the signing key's id does not match its key")
    return key


def key_write(key: SigningKey, path: str | Path) -> None:
    """Create the key file readable by its owner only; never overwrite a key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.encode() + "\n")


def signing_key() -> SigningKey:
    """The configured key; in development (``SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE``) made once."""
    path = Path(settings.SUNDOWN_AUDIT_SIGNING_KEY_FILE)
    if not path.exists() and settings.SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first
            key_write(key_generate(settings.SUNDOWN_AUDIT_ORIGIN), path)
    try:
        return key_parse(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise SigningKeyError(
            f"SUNDOWN_AUDIT_SIGNING_KEY_FILE={str(path)!r} cannot be read ({exc}); "
            "create it with `python manage.py audit_keygen`"
        ) from exc


@dataclass(frozen=True)
class Verifier:
    """A verifier key: name, id and Ed25519 public key."""

    name: str
    key_id: bytes
    public: Ed25519PublicKey

    def verify_note(self, note: str) -> str | None:
        """The note's text if a signature by this key verifies, else None."""
        text, sep, signatures = note.rpartition("\n\n")
        if not sep:
            return None
        text += "\n"
        for line in signatures.splitlines():
            if not line.startswith("\u2014 "):
                return None
            name, _, encoded = line[2:].rpartition(" ")
            if name != self.name:
                continue
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError:
                return None
            if base64.b64encode(raw).decode() != encoded:
                return None  # only the canonical encoding: no second spelling of a signature
            if raw[:4] != self.key_id:
                continue
            try:
                self.public.verify(raw[4:], text.encode())
            except InvalidSignature:
                return None
            return text
        return None


def verifier_parse(text: str) -> Verifier:
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ValueError("not a <name>+<id>+<key> verifier key")
    name, id_hex, encoded = parts
    raw = base64.b64decode(encoded)
    if raw[:1] != ED25519 or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    if key_id(name, raw[1:]).hex() != id_hex:
        raise ValueError("the verifier key's id does not match its key")
    return Verifier(name, bytes.fromhex(id_hex), Ed25519PublicKey.from_public_bytes(raw[1:]))
