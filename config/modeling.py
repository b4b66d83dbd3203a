"""Helpers shared by the services of every app."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


def save_validated(obj, **save_kwargs) -> None:
    """full_clean then save; a constraint race still ends as a ValidationError."""
    obj.full_clean()
    try:
        with transaction.atomic():
            obj.save(**save_kwargs)
    except IntegrityError as exc:
        raise ValidationError(f"This conflicts with an existing record: {exc}") from exc


def set_fields(obj, changes: dict, allowed: tuple[str, ...]) -> None:
    """Apply ``changes``; a field outside ``allowed`` is a validation error, not ignored."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    for name, value in changes.items():
        setattr(obj, name, value)
