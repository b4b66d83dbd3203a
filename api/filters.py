"""Query filters for the list endpoints (django-filter).

Filters only narrow what ``restrict`` already allows; an id of another agency
simply matches nothing. Each ``agency`` filter follows the model's path in
``vendors.permissions.AGENCY_OWNER``.
"""

import datetime as dt
import re

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import ErrorDict, ErrorList
from django.http import QueryDict
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.filters import QuerySetRequestMixin
from django_filters.widgets import DateRangeWidget
from drf_spectacular.drainage import set_override
from rest_framework.filters import SearchFilter

from access.models import Credential, System
from api.pagination import WHOLE_NUMBER
from audit.models import AuditEvent
from findings.kinds import Severity, kind_choices
from findings.models import Finding, ReconciliationRun
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import connector_error_readers
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import agency_path

# Django's IntegerField (and DRF's) also take "0.0" and "1.00", which the schema's
# ``type: integer`` calls another type: the deep fuzz run's ``?credential=0.0`` was
# accepted (issue 10). The pagination's rule, shared.


class WholeNumberField(forms.IntegerField):
    """An integer written as one: digits, no decimal point or exponent."""

    def to_python(self, value):
        if value not in self.empty_values and not WHOLE_NUMBER.fullmatch(str(value)):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IdFilter(filters.NumberFilter):
    """An object id (a whole number)."""

    # Narrower than NumberFilter's DecimalField on purpose: ids are whole numbers.
    field_class = WholeNumberField  # type: ignore[assignment]

    def __init__(self, *, field_name: str | None = None, **kwargs):
        related = (field_name or "").removesuffix("_id").split("__")[-1].rstrip("s")
        kwargs.setdefault("help_text", f"Only those of the {related} with this id.")
        super().__init__(field_name=field_name, **kwargs)
        # An integer in the schema (NumberFilter says "number"), with its own description.
        set_override(self, "field", {"type": "integer", "description": kwargs["help_text"]})


# RFC 3339 (the schema's ``format: date-time`` and ``format: date``), and nothing else:
# Django alone would also take "2000-01-01" or "2000-01-01 10:00" without an offset,
# which the schema calls invalid and which would be read in the server's time zone.
RFC3339_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
RFC3339_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
EMPTY = "Give a value or leave the parameter out."
NOT_BOOLEAN = "Must be true or false."


class UtcIsoDateTimeField(IsoDateTimeField):
    """An RFC 3339 date-time (with its offset), normalised to UTC.

    PostgreSQL accepts offsets only up to 15:59, and a date at the edge of the
    calendar may not survive the conversion: both are bad input, not a 500.
    """

    def to_python(self, value):
        if value not in self.empty_values and not RFC3339_DATE_TIME.fullmatch(str(value)):
            raise ValidationError(
                "An RFC 3339 date and time with its offset is required, e.g. 2026-01-31T23:59:59Z.",
                code="invalid",
            )
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
    """``<name>_after`` / ``<name>_before``, RFC 3339 date-times."""

    # A range of UTC-normalised fields in place of the stock one (see above).
    field_class = UtcIsoDateTimeRangeField  # type: ignore[assignment]


class IsoDateField(forms.DateField):
    """An RFC 3339 full date (2026-01-31), not Django's other input formats."""

    def to_python(self, value):
        if value not in self.empty_values and not RFC3339_DATE.fullmatch(str(value)):
            raise ValidationError("A date as YYYY-MM-DD is required.", code="invalid")
        return super().to_python(value)


class IsoDateRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((IsoDateField(), IsoDateField()), *args, **kwargs)


class IsoDateRangeFilter(filters.DateFromToRangeFilter):
    """``<name>_after`` / ``<name>_before``, inclusive, YYYY-MM-DD."""

    field_class = IsoDateRangeField  # type: ignore[assignment]


def _query_params(name: str, f: filters.Filter) -> list[str]:
    # A range filter reads <name>_after and <name>_before (its widget's suffixes).
    suffixes = getattr(f.field.widget, "suffixes", None)
    return [f"{name}_{suffix}" if suffix else name for suffix in suffixes] if suffixes else [name]


# Per filter set class, built on its first request (see StrictFilterSet.get_form_class).
_FORM_CLASSES: dict[type, type] = {}
_STRICT_PARAMS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_FILTER_PARAMS: dict[type, tuple[tuple[str, tuple[str, ...]], ...]] = {}
# Per filter set class and set of parameters given (bounded: parameters are the client's).
_SUBSET_FORM_CLASSES: dict[tuple[type, frozenset[str]], type] = {}
_MAX_SUBSET_FORM_CLASSES = 1_000


class StrictFilterSet(filters.FilterSet):
    """A FilterSet that refuses an empty value where the schema allows none.

    django-filter reads ``?status=`` as "no filter"; the schema says status is one of
    its values (an id is an integer, a date a date), so a client that sent nothing
    there sent something invalid and hears so. Text filters may be empty.
    """

    def get_form_class(self):
        # django-filter builds a form field per filter and a new form class on every
        # request (a tenth of a credential list's time). Unless a filter reads a
        # queryset for the request (a model choice), the class is the same every time:
        # built once per filter set; each form still copies its fields, as Django does.
        form_class = _FORM_CLASSES.get(type(self))
        if form_class is None:
            form_class = super().get_form_class()
            if not any(isinstance(f, QuerySetRequestMixin) for f in self.filters.values()):
                _FORM_CLASSES[type(self)] = form_class
            else:
                return form_class
        return self._given_fields_only(form_class)

    def _given_fields_only(self, form_class: type) -> type:
        """``form_class`` with only the fields of the parameters this request gives.

        Django deep-copies every field of a form for each form and cleans each one: ten
        filters' fields for a request that filters on two. A parameter that is not
        there cleans to "no filter" (no filter here is required, and each skips an
        empty value), so its field may as well not be in the form.
        """
        data = self.data
        if not self.is_bound or self.form_prefix or not isinstance(data, QueryDict):
            return form_class
        given = frozenset(
            name for name, params in self._filter_params() if any(param in data for param in params)
        )
        key = (type(self), given)
        subset = _SUBSET_FORM_CLASSES.get(key)
        if subset is None:
            fields = form_class.base_fields  # type: ignore[attr-defined]
            subset = type(form_class.__name__, (form_class,), {})
            subset.base_fields = {  # type: ignore[attr-defined]
                name: field for name, field in fields.items() if name in given
            }
            if len(_SUBSET_FORM_CLASSES) < _MAX_SUBSET_FORM_CLASSES:
                _SUBSET_FORM_CLASSES[key] = subset
        return subset

    def _filter_params(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each filter's name and the query parameters it reads, once per class."""
        params = _FILTER_PARAMS.get(type(self))
        if params is None:
            params = _FILTER_PARAMS[type(self)] = tuple(
                (name, tuple(_query_params(name, f))) for name, f in self.filters.items()
            )
        return params

    def _strict_params(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The query parameters that may not be empty, and the boolean filters' names:
        fixed by the class, so read once per class rather than per request."""
        params = _STRICT_PARAMS.get(type(self))
        if params is None:
            params = _STRICT_PARAMS[type(self)] = (
                tuple(
                    param
                    for name, f in self.filters.items()
                    if not isinstance(f, filters.CharFilter)
                    for param in _query_params(name, f)
                ),
                tuple(
                    name for name, f in self.filters.items() if isinstance(f, filters.BooleanFilter)
                ),
            )
        return params

    def _empty_params(self) -> list[str]:
        data = self.data
        if not isinstance(data, QueryDict):
            return []
        return [
            param
            for param in self._strict_params()[0]
            if param in data and "" in data.getlist(param)
        ]

    def _bad_booleans(self) -> list[str]:
        # django-filter reads anything but true/false/1/0 as "no filter"; the schema
        # says boolean, which a query string spells true or false.
        data = self.data
        if not isinstance(data, QueryDict):
            return []
        return [
            name
            for name in self._strict_params()[1]
            if name in data and any(value not in ("true", "false") for value in data.getlist(name))
        ]

    def is_valid(self) -> bool:
        return super().is_valid() and not self._empty_params() and not self._bad_booleans()

    @property
    def errors(self):  # a form's ErrorDict, as django-filter's own
        errors = ErrorDict(super().errors)
        for param in self._empty_params():
            errors[param] = ErrorList([ValidationError(EMPTY, code="empty")])
        for param in self._bad_booleans():
            errors[param] = ErrorList([ValidationError(NOT_BOOLEAN, code="invalid")])
        return errors


class AgencyFilter(StrictFilterSet):
    slug = filters.CharFilter(help_text="The agency's short name.")

    class Meta:
        model = Agency
        fields = ["slug"]


class VendorFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(Vendor))

    class Meta:
        model = Vendor
        fields = ["agency", "status", "risk_tier"]


class ContractFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(Contract))
    vendor = IdFilter(field_name="vendor_id")
    end_date = IsoDateRangeFilter(
        help_text="end_date_after / end_date_before: inclusive range of end dates."
    )
    access_ends_at = DateTimeRangeFilter(
        help_text="access_ends_at_after / access_ends_at_before: when access ends."
    )

    class Meta:
        model = Contract
        fields = ["agency", "vendor", "status", "end_date", "access_ends_at"]


class SystemFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(System))

    class Meta:
        model = System
        fields = ["agency", "kind", "lifecycle", "data_classification"]


class CredentialFilter(StrictFilterSet):
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
    contract_end_date = IsoDateRangeFilter(
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


class RevocationAttemptFilter(StrictFilterSet):
    credential = IdFilter(field_name="credential_id")
    system = IdFilter(field_name="system_id")
    agency = IdFilter(field_name=agency_path(RevocationAttempt))
    started_at = DateTimeRangeFilter(
        help_text="started_at_after / started_at_before: when the attempt started."
    )

    class Meta:
        model = RevocationAttempt
        fields = ["credential", "system", "agency", "outcome", "started_at"]


class ManualTaskFilter(StrictFilterSet):
    credential = IdFilter(field_name="credential_id")
    system = IdFilter(field_name="system_id")
    agency = IdFilter(field_name=agency_path(ManualTask))

    class Meta:
        model = ManualTask
        fields = ["credential", "system", "agency", "status", "reason"]


class AuditEventFilter(StrictFilterSet):
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


class FindingKindFilter(filters.ChoiceFilter):
    """The registry's kinds as the schema's enum: drf-spectacular cannot read callable
    choices, and without an enum the schema offered any string the filter refuses."""

    @property
    def _spectacular_annotation(self) -> dict:
        kinds = sorted(code for code, _ in kind_choices())
        return {"field": {"type": "string", "enum": kinds, "description": "The finding's kind."}}


class FindingFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(Finding))
    system = IdFilter(field_name="system_id")
    vendor = IdFilter(field_name="vendor_id")
    credential = IdFilter(field_name="credential_id")
    kind = FindingKindFilter(choices=kind_choices, help_text="The finding's kind.")
    severity = filters.ChoiceFilter(choices=Severity.CHOICES)
    status = filters.ChoiceFilter(choices=Finding.Status.choices)
    live = filters.BooleanFilter(
        method="filter_live", help_text="true: open or acknowledged; false: closed."
    )
    account = filters.CharFilter(help_text="Exact account identifier on the target.")
    last_seen_at = DateTimeRangeFilter(
        help_text="last_seen_at_after / last_seen_at_before: when last seen."
    )

    class Meta:
        model = Finding
        fields = [
            "agency",
            "system",
            "vendor",
            "credential",
            "kind",
            "severity",
            "status",
            "live",
            "account",
            "last_seen_at",
        ]

    def filter_live(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status__in=Finding.LIVE)
        return queryset.exclude(status__in=Finding.LIVE)


class ReconciliationRunFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(ReconciliationRun))
    system = IdFilter(field_name="system_id")
    status = filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)

    class Meta:
        model = ReconciliationRun
        fields = ["agency", "system", "status"]
