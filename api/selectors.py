"""Reads for API tokens, and the target of a refused request."""

from django.db.models import Model
from django.utils import timezone

from api.models import ApiToken
from api.services import KEY_PREFIX, hash_key
from vendors.permissions import owner_relations


def api_token_for_key(key: str) -> ApiToken | None:
    """The token with this key (whatever its state), with its user; None when unknown."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    # get(), not first(): key_hash is unique, and first()'s ORDER BY (the model's
    # created_at) was a quarter of the lookup's CPU, on every API request.
    try:
        return ApiToken.objects.select_related("user").get(key_hash=hash_key(key))
    except ApiToken.DoesNotExist:
        return None


def api_token_usable(token: ApiToken) -> tuple[bool, str]:
    """Whether the token may authenticate now, and why not."""
    if token.revoked_at is not None:
        return False, "This token has been revoked."
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return False, "This token has expired."
    if not token.user.is_active:
        return False, "The token's user is inactive."
    return True, ""


def denied_target(model: type[Model], lookup: dict) -> Model | None:
    """The object a refused request named, in whichever agency it is.

    Deliberately not restricted: the API writes it to the audit trail as the target
    of the refusal and never shows it to the caller, who gets the same 404 as for an
    object that does not exist.
    """
    queryset = model._default_manager.select_related(*owner_relations(model))
    try:
        return queryset.filter(**lookup).first()
    except (TypeError, ValueError):  # not even a well-formed id
        return None
