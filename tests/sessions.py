"""Signed-in test clients."""

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from dashboard.models import SealedTOTPDevice as TOTPDevice


def signed_in(user, *, verified: bool = True, client: Client | None = None) -> Client:
    """A client signed in as ``user``; past TOTP too unless ``verified=False``
    (the dashboard asks security officers and superusers for it)."""
    client = client or Client()
    client.force_login(user)
    if verified:
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="test", defaults={"confirmed": True}
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
