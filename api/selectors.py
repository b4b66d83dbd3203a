"""Reads for API tokens."""

from django.utils import timezone

from api.models import ApiToken
from api.services import KEY_PREFIX, hash_key


def api_token_for_key(key: str) -> ApiToken | None:
    """The token with this key (whatever its state), with its user; None when unknown."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    return ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()


def api_token_usable(token: ApiToken) -> tuple[bool, str]:
    """Whether the token may authenticate now, and why not."""
    if token.revoked_at is not None:
        return False, "This token has been revoked."
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return False, "This token has expired."
    if not token.user.is_active:
        return False, "The token's user is inactive."
    return True, ""
