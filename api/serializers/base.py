"""Field types and the base serializer every resource's serializers use, and the body
the verbs share (a reason). Types, lengths and scoping only: the rules are the services'."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import models
from rest_framework import serializers

from config.text import text_problem
from vendors.permissions import restrict

CANNOT_CHANGE = "This field cannot be changed here."


class JsonString(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would turn ``0`` into ``"0"``."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Text(JsonString):
    """A JSON string holding only text the services store (``config.text``).

    DRF's CharField turns ``0`` into ``"0"`` and trims a line break off a one-line
    name before anything looks at it; this takes strings only and checks the text as
    sent, so the API refuses exactly what the schema's ``pattern`` (api.schema) rules out.
    """

    multiline = False

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        problem = text_problem(data, multiline=self.multiline)
        if problem:
            raise serializers.ValidationError(f"This field {problem}.")
        return super().to_internal_value(data)


class MultiLineText(Text):
    """Text that may hold tabs and line breaks (reasons, notes, privileges)."""

    multiline = True


# A plain address (dot-atom local part, host names with a letter TLD): a subset of what
# Django's EmailValidator takes, stated in the schema so both say the same. Quoted
# local parts, address literals and "localhost" are for people's mail, not a registry.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_EMAIL = re.compile(EMAIL_PATTERN)


class PlainEmailValidator(EmailValidator):
    def __call__(self, value):
        super().__call__(value)
        if not _EMAIL.match(value):
            raise DjangoValidationError(self.message, code=self.code, params={"value": value})


class Email(serializers.EmailField):
    """An address as EMAIL_PATTERN describes it (the schema's ``pattern``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, EmailValidator)] + [
            PlainEmailValidator(message=self.error_messages["invalid"])
        ]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object the requesting user holds ``perm`` on; others "do not exist"."""

    def __init__(self, *, perm: str, **kwargs):
        self.perm = perm
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        queryset = super().get_queryset()
        assert queryset is not None  # every field here is declared with a queryset
        return restrict(queryset, user, self.perm)

    def prefetch(self, values) -> None:
        """Look up every pk of ``values`` in one query for the items about to be validated.

        A list serializer validates its items one by one: without this a batch of 1,000
        usage events was 1,000 scoped queries (30 s on a loaded machine, past
        gunicorn's timeout). The answers are those one lookup per item would give.
        """
        pks = {pk for pk in (_pk_or_none(value) for value in values) if pk is not None}
        self._prefetched = self.get_queryset().in_bulk(pks)

    def to_internal_value(self, data):
        found = getattr(self, "_prefetched", None)
        if found is None:
            return super().to_internal_value(data)
        if not _looks_like_pk(data):
            self.fail("incorrect_type", data_type=type(data).__name__)
        obj = found.get(_pk_or_none(data))  # None finds nothing
        if obj is None:
            self.fail("does_not_exist", pk_value=data)
        return obj


_PK_RANGE = range(-(2**63), 2**63)  # a bigint: anything else names no row


def _looks_like_pk(value) -> bool:
    # What ``queryset.get(pk=value)`` takes without a TypeError/ValueError: an int,
    # or what int() reads (a float, digits as text).
    try:
        int(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, bool)


def _pk_or_none(value) -> int | None:
    if not _looks_like_pk(value):
        return None
    pk = int(value)
    return pk if pk in _PK_RANGE else None


class ServiceModelSerializer(serializers.ModelSerializer):
    """Base: fields named in ``Meta.immutable`` are accepted on create only."""

    # Model text fields as Text: one line for a CharField, several for a TextField, as
    # the services' save_validated decides (config.modeling.text_errors).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: Text,
        models.TextField: MultiLineText,
        models.EmailField: Email,
    }

    def validate(self, attrs):
        if self.instance is not None:
            immutable = getattr(self.Meta, "immutable", ())
            sent = set(getattr(self, "initial_data", {}) or {})
            errors = {name: [CANNOT_CHANGE] for name in immutable if name in sent}
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = MultiLineText(max_length=2000)
