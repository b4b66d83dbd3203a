"""Helpers shared by the services of every app."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from config.text import text_problem


def text_errors(obj) -> dict[str, str]:
    """Field errors for text no field should hold: lone surrogates, NUL, bidirectional
    controls, and control characters (line breaks too) in one-line fields, which reach
    mail headers and logs. Fields a model names in ``TEXT_WRITTEN_ELSEWHERE`` are
    checked where they are written (a request's reason, a connector's error), so an old
    value there never blocks saving the row's other fields."""
    errors = {}
    elsewhere = getattr(type(obj), "TEXT_WRITTEN_ELSEWHERE", ())
    for field in obj._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField):
            continue
        if field.name in elsewhere:
            continue
        value = getattr(obj, field.attname, None)
        if isinstance(value, str):
            problem = text_problem(value, multiline=isinstance(field, models.TextField))
            if problem:
                errors[field.name] = f"This field {problem}."
    return errors


def free_text(field: str, value: str | None, *, required: str = "") -> str:
    """A service's free-text argument (a reason, a note) stripped and held to the rules of
    stored multi-line text (config.text): line breaks and tabs yes, bidirectional and
    other controls no. ``required``: the field message when it is empty."""
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise ValidationError({field: required})
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValidationError({field: f"This field {problem}."})
    return value


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
