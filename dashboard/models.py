"""The dashboard's own model: the TOTP authenticator, its seed encrypted at rest."""

from __future__ import annotations

from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from access.crypto import decrypt, encrypt


def sealed_random_key() -> str:
    """A fresh 20-byte seed (django-otp's default), encrypted like system secrets."""
    return encrypt(random_hex(20))


class SealedTOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP authenticator app (RFC 6238), like django-otp's ``TOTPDevice``, except that
    the seed is a Fernet token under SUNDOWN_ENCRYPTION_KEYS instead of plain hex: a
    copy of the database alone cannot make codes. Migration 0001 moved every
    ``TOTPDevice`` here and emptied its table; nothing creates those any more.
    """

    sealed_key = models.TextField(default=sealed_random_key, editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "TOTP device"

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(decrypt(self.sealed_key))

    # django-otp's own TOTP logic, unchanged: it reads the seed only through bin_key.
    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url
    _read_str_from_settings = TOTPDevice._read_str_from_settings
