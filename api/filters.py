"""Query filters for the list endpoints (django-filter).

Filters only narrow what ``restrict`` already allows; an id of another agency
simply matches nothing. Each ``agency`` filter follows the model's path in
``vendors.permissions.AGENCY_OWNER``.
"""

import datetime as dt

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget
from drf_spectacular.drainage import set_override
from rest_framework.filters import SearchFilter

from access.models import Credential, System
from audit.models import AuditEvent
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import connector_error_readers
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import agency_path


class IdFilter(filters.NumberFilter):
    """An object id (a whole number)."""

    # Narrower than NumberFilter's DecimalField on purpose: ids are whole numbers.
    field_class = forms.IntegerField  # type: ignore[assignment]

    def __init__(self, *, field_name: str | None = None, **kwargs):
        related = (field_name or "").removesuffix("_id").split("__")[-1].rstrip("s")
        kwargs.setdefault("help_text", f"Only those of the {related} with this id.")
        super().__init__(field_name=field_name, **kwargs)
        # An integer in the schema (NumberFilter says "number"), with its own description.
        set_override(self, "field", {"type": "integer", "description": kwargs["help_text"]})


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset, normalised to UTC.

    PostgreSQL accepts offsets only up to 15:59, and a date at the edge of the
    calendar may not survive the conversion: both are bad input, not a 500.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError("This date and time is out of range.", code="invalid") from None


class UtcIsoDateTimeRangeField(RangeField):
    widget = DateRangeWidget  # <name>_after / <name>_before

    def __init__(self, *args, **kwargs):
        super().__init__((UtcIsoDateTimeField(), UtcIsoDateTimeField()), *args, **kwargs)


class DateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` / ``<name>_before``, ISO 8601 date-times."""

    # A range of UTC-normalised fields in place of the stock one (see above).
    field_class = UtcIsoDateTimeRangeField  # type: ignore[assignment]


class AgencyFilter(filters.FilterSet):
    slug = filters.CharFilter(help_text="The agency's short name.")

    class Meta:
        model = Agency
        fields = ["slug"]


class VendorFilter(filters.FilterSet):
    agency = IdFilter(field_name=agency_path(Vendor))

    class Meta:
        model = Vendor
        fields = ["agency", "status", "risk_tier"]


class ContractFilter(filters.FilterSet):
    agency = IdFilter(field_name=agency_path(Contract))
    vendor = IdFilter(field_name="vendor_id")
    end_date = filters.DateFromToRangeFilter(
        help_text="end_date_after / end_date_before: inclusive range of end dates."
    )
    access_ends_at = DateTimeRangeFilter(
        help_text="access_ends_at_after / access_ends_at_before: when access ends."
    )

    class Meta:
        model = Contract
        fields = ["agency", "vendor", "status", "end_date", "access_ends_at"]


class SystemFilter(filters.FilterSet):
    agency = IdFilter(field_name=agency_path(System))

    class Meta:
        model = System
        fields = ["agency", "kind", "lifecycle", "data_classification"]


class CredentialFilter(filters.FilterSet):
    agency = IdFilter(field_name=agency_path(Credential))
    vendor = IdFilter(field_name="vendor_id")
    system = IdFilter(field_name="system_id")
    contract = IdFilter(field_name="contracts", distinct=True)
    system_kind = filters.ChoiceFilter(field_name="system__kind", choices=System.Kind.choices)
    lifecycle = filters.ChoiceFilter(
        field_name="system__lifecycle", choices=System.Lifecycle.choices
    )
    expires_at = DateTimeRangeFilter(
        help_text="expires_at_after / expires_at_before: when the credential expires."
    )
    contract_end_date = filters.DateFromToRangeFilter(
        field_name="contracts__end_date",
        distinct=True,
        help_text="contract_end_date_after / _before: credentials under contracts ending then.",
    )

    class Meta:
        model = Credential
        fields = [
            "agency",
            "vendor",
            "system",
            "contract",
            "status",
            "kind",
            "system_kind",
            "lifecycle",
            "expires_at",
            "contract_end_date",
        ]


class RevocationAttemptFilter(filters.FilterSet):
    credential = IdFilter(field_name="credential_id")
    system = IdFilter(field_name="system_id")
    agency = IdFilter(field_name=agency_path(RevocationAttempt))
    started_at = DateTimeRangeFilter(
        help_text="started_at_after / started_at_before: when the attempt started."
    )

    class Meta:
        model = RevocationAttempt
        fields = ["credential", "system", "agency", "outcome", "started_at"]


class ManualTaskFilter(filters.FilterSet):
    credential = IdFilter(field_name="credential_id")
    system = IdFilter(field_name="system_id")
    agency = IdFilter(field_name=agency_path(ManualTask))

    class Meta:
        model = ManualTask
        fields = ["credential", "system", "agency", "status", "reason"]


class AuditEventFilter(filters.FilterSet):
    agency = IdFilter(field_name=agency_path(AuditEvent))
    occurred_at = DateTimeRangeFilter(
        help_text="occurred_at_after / occurred_at_before: database time of the event."
    )
    action = filters.CharFilter(help_text="Exact action, e.g. credential.revoked.")
    target_type = filters.CharFilter(help_text="Exact target type, e.g. access.credential.")
    target_id = filters.CharFilter(help_text="Target id (with target_type).")

    class Meta:
        model = AuditEvent
        fields = ["agency", "action", "actor_type", "target_type", "target_id", "occurred_at"]


class ManualTaskSearch(SearchFilter):
    """``?search=`` over a task's note, and over its ``detail`` (the connector's report,
    the target's own words) only in agencies whose audit trail the user may read: a
    search that matches is an answer about the text, as good as reading it."""

    def filter_queryset(self, request, queryset, view):
        terms = self.get_search_terms(request)
        if not terms:
            return queryset
        readers = connector_error_readers(request.user)
        agency = f"{agency_path(ManualTask)}__in"
        for term in terms:
            queryset = queryset.filter(
                Q(note__icontains=term) | Q(detail__icontains=term, **{agency: readers})
            )
        return queryset
