"""Writes for API tokens. Each writes its audit event in its transaction."""

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from audit.actor import Actor
from audit.services import audit_record

KEY_PREFIX = "sdn_"
# How often last_used_at is written: a busy integration should not turn every
# read into a write, and minute precision is all an owner needs.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    """(prefix, key): 8 hex chars to display, then 256 random bits."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def api_token_create(
    *,
    actor: Actor,
    user,
    name: str,
    kind: str = ApiToken.Kind.PERSONAL,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its key, which is never available again."""
    errors = {}
    if not name or not name.strip():
        errors["name"] = "Say what the token is for."
    if kind not in ApiToken.Kind.values:
        errors["kind"] = f"Choose one of {', '.join(ApiToken.Kind.values)}."
    expires_at = None
    if expires_in_days is not None and expires_in_days < 1:
        errors["expires_in_days"] = "A token must be valid for at least one day."
    elif expires_in_days is not None:
        try:
            expires_at = timezone.now() + dt.timedelta(days=expires_in_days)
        except OverflowError:
            errors["expires_in_days"] = "That is beyond the last date the calendar knows."
    if not user.is_active:
        errors["user"] = "This user is inactive."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for _ in range(5):
            prefix, key = _new_key()
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        token = ApiToken.objects.create(
            user=user,
            name=name.strip(),
            kind=kind,
            prefix=prefix,
            key_hash=hash_key(key),
            expires_at=expires_at,
            created_by=actor.name[:200],
        )
        audit_record(
            actor=actor,
            action="api_token.created",
            target=token,
            after={
                "user": user.get_username(),
                "name": token.name,
                "kind": token.kind,
                "prefix": token.prefix,
                "expires_at": token.expires_at,
            },
        )
    return token, key


def api_token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.revoked_by = actor.name[:200]
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor,
            action="api_token.revoked",
            target=token,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at, "prefix": token.prefix},
        )
    return token


def api_token_touch(*, token: ApiToken, ip: str | None) -> None:
    """Record use (not audited: it is bookkeeping, not a change of access)."""
    now = timezone.now()
    if token.last_used_at and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at = now
