"""Encryption of system connection secrets at rest (Fernet, rotatable keys).

The keys come from SUNDOWN_ENCRYPTION_KEYS, outside the database, so a dump of
the database alone does not reveal any target system's password.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from ops.logs import secret_register


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.SUNDOWN_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    secret_register(plaintext)  # this process now knows it: keep it out of its logs
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        plaintext = _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "A stored secret cannot be decrypted with SUNDOWN_ENCRYPTION_KEYS "
            "(was a key removed before `rotate_secrets` ran?)"
        ) from None
    secret_register(plaintext)
    return plaintext


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    return _current().rotate(token.encode()).decode()


def seal(data: bytes) -> bytes:
    """Encrypt a document at rest (an uploaded file waiting for its job) under the same
    keys. Unlike ``encrypt`` its text is not registered for log redaction: it is data,
    not a credential, and may be megabytes long."""
    return _current().encrypt(data)


def unseal(token: bytes | memoryview) -> bytes:
    try:
        return _current().decrypt(bytes(token))
    except InvalidToken:
        raise ValueError(
            "A sealed document cannot be decrypted with SUNDOWN_ENCRYPTION_KEYS"
        ) from None
