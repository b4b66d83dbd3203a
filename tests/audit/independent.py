"""A second, independent reading of RFC 6962 and C2SP signed-note / tlog-checkpoint.

Written from the texts, recursively as RFC 6962 section 2.1 defines things, and
sharing no code with audit.merkle or audit.signing (which work iteratively, per
RFC 9162), so a test that passes both agrees with the specifications, not with
itself.
"""

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    # "the largest power of two smaller than n (i.e., k < n <= 2k)"
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) over the raw leaf data (not leaf hashes), RFC 6962 2.1."""
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + entries[0])
    k = _k(n)
    return sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def root_from_audit_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    """The root an audit path PATH(m, D[n]) leads to (its last element is the top sibling)."""
    if n == 1:
        assert not path, "audit path too long"
        return leaf
    assert path, "audit path too short"
    k = _k(n)
    if m < k:
        return sha256(b"\x01" + root_from_audit_path(m, k, leaf, path[:-1]) + path[-1])
    return sha256(b"\x01" + path[-1] + root_from_audit_path(m - k, n - k, leaf, path[:-1]))


def consistency_roots(m: int, n: int, old_root: bytes, proof: list[bytes]) -> tuple[bytes, bytes]:
    """(old root, new root) that PROOF(m, D[n]) = SUBPROOF(m, D[n], true) implies."""
    remaining = list(proof)

    def walk(m: int, n: int, complete: bool) -> tuple[bytes, bytes]:
        if m == n:
            if complete:
                return old_root, old_root
            node = remaining.pop()
            return node, node
        k = _k(n)
        sibling = remaining.pop()
        if m <= k:
            old, new = walk(m, k, complete)
            return old, sha256(b"\x01" + new + sibling)
        old, new = walk(m - k, n - k, False)
        return sha256(b"\x01" + sibling + old), sha256(b"\x01" + sibling + new)

    old, new = walk(m, n, True)
    assert not remaining, "consistency proof too long"
    return old, new


def parse_verifier_key(vkey: str) -> tuple[str, bytes, bytes]:
    name, key_hash, key = vkey.split("+", 2)  # base64 may hold "+"
    raw = base64.b64decode(key)
    assert raw[0] == 0x01 and len(raw) == 33, "Ed25519 verifier key"
    key_id = sha256(name.encode() + b"\x0a" + b"\x01" + raw[1:])[:4]
    assert key_id.hex() == key_hash, "key ID = SHA-256(name || 0x0A || 0x01 || key)[:4]"
    return name, key_id, raw[1:]


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Check a signed checkpoint against a verifier key; return (origin, size, root)."""
    name, key_id, public = parse_verifier_key(vkey)
    assert "\x00" not in note and all(c == "\n" or ord(c) >= 0x20 for c in note)
    text, signatures = note.split("\n\n", 1) if note.count("\n\n") == 1 else (None, None)
    assert text is not None, "one blank line separates text and signatures"
    text += "\n"
    verified = False
    for line in signatures.rstrip("\n").split("\n"):
        assert line.startswith("\u2014 "), "signature lines start with an em dash and a space"
        signer, signature = line[2:].split(" ")
        raw = base64.b64decode(signature)
        if signer != name or raw[:4] != key_id:
            continue  # unknown keys are ignored
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise AssertionError("signature does not verify") from exc
        verified = True
    assert verified, "no signature by the trusted key"
    lines = text.split("\n")[:-1]
    assert len(lines) >= 3 and all(lines)
    origin, size, root = lines[0], lines[1], lines[2]
    assert size == str(int(size)), "decimal, no leading zeroes"
    digest = base64.b64decode(root)
    assert len(digest) == 32
    return origin, int(size), digest
