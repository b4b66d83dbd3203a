"""Helpers shared by the services of every app."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from config.text import text_problem


def text_errors(obj) -> dict[str, str]:
    """Field errors for text no field should hold: lone surrogates, NUL, and control
    characters (line breaks too) in one-line fields, which reach mail headers and logs."""
    errors = {}
    for field in obj._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField):
            continue
        value = getattr(obj, field.attname, None)
        if isinstance(value, str):
            problem = text_problem(value, multiline=isinstance(field, models.TextField))
            if problem:
                errors[field.name] = f"This field {problem}."
    return errors


def save_validated(obj, **save_kwargs) -> None:
    """full_clean then save; a constraint race still ends as a ValidationError."""
    errors = text_errors(obj)
    if errors:
        raise ValidationError(errors)
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
