"""Dashboard forms. They only parse input; the services decide what is valid."""

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from access.models import System
from findings.kinds import Severity, kind_choices
from findings.models import Finding
from vendors import permissions
from vendors.models import Contract, Vendor

_WIDGET_CLASSES = {
    forms.Select: "usa-select",
    forms.SelectMultiple: "usa-select",
    forms.Textarea: "usa-textarea",
    forms.CheckboxInput: "usa-checkbox__input",
    forms.ClearableFileInput: "usa-file-input",
    forms.FileInput: "usa-file-input",
}


# The mixin is only ever combined with forms.Form; type checkers need to know that.
if TYPE_CHECKING:
    _FormBase = forms.BaseForm
else:
    _FormBase = object


class USWDSMixin(_FormBase):
    """Give every widget its USWDS class and mark invalid fields for assistive tech."""

    # The forms set choices and querysets on their fields per request; the stubs type
    # ``fields`` as plain ``Field`` objects, which have neither.
    fields: dict[str, Any]
    # Forms that share a page with another form name their ids after themselves
    # ("id_terminate_reason"), so no two fields on a page share an id; field names,
    # and so what the views read from POST, stay as they are.
    id_prefix = ""

    def __init__(self, *args, **kwargs):
        if self.id_prefix:
            kwargs.setdefault("auto_id", f"id_{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = next(
                (c for w, c in _WIDGET_CLASSES.items() if type(field.widget) is w), "usa-input"
            )
            field.widget.attrs.setdefault("class", css)

    def full_clean(self):
        # After validation, not in __init__: subclasses set querysets after super().__init__.
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = attrs.get("class", "") + " usa-input--error"
                attrs["aria-invalid"] = "true"
                # The ids _field.html gives the hint and the error; both are read out.
                auto_id = self[name].auto_id
                described = [f"{auto_id}_error"]
                if self.fields[name].help_text:
                    described.insert(0, f"{auto_id}_helptext")
                attrs["aria-describedby"] = " ".join(described)


def apply_validation_error(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: field errors on fields, the rest on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def validation_message(exc: ValidationError) -> str:
    """A service's ValidationError as one line for a page's banner, each field's message
    after its name ("Reason: This field must not contain ...")."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return " ".join(
        " ".join(messages)
        if field == "__all__"
        else f"{field.replace('_', ' ').capitalize()}: " + " ".join(messages)
        for field, messages in exc.message_dict.items()
    )


class DateInput(forms.DateInput):
    input_type = "date"


class TokenField(forms.CharField):
    """Authenticator apps show "123 456": spaces (and dashes) are not part of the code."""

    def to_python(self, value):
        value = super().to_python(value)
        return "".join(ch for ch in value if ch not in " -\u00a0\u202f\t")

    def widget_attrs(self, widget):
        # maxlength counts the spaces a person types; the length is checked without them.
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        attrs.pop("minlength", None)
        return attrs


class TokenForm(USWDSMixin, forms.Form):
    token = TokenField(
        label="Six-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class VendorFilterForm(USWDSMixin, forms.Form):
    q = forms.CharField(label="Search name or registration number", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Vendor.Status.choices], required=False)
    risk_tier = forms.ChoiceField(
        label="Risk tier", choices=[("", "Any risk tier"), *Vendor.RiskTier.choices], required=False
    )
    agency = forms.ChoiceField(choices=[("", "All agencies")], required=False)
    sort = forms.ChoiceField(
        label="Sort by",
        choices=[("", "Name"), ("risk", "Risk score, highest first")],
        required=False,
    )

    def __init__(self, *args, agencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].choices = [("", "All agencies")] + [
            (a.slug, a.name) for a in agencies
        ]


class VendorForm(USWDSMixin, forms.Form):
    agency = forms.ChoiceField()
    name = forms.CharField(max_length=200, label="Legal name")
    registration_number = forms.CharField(max_length=64, required=False)
    risk_tier = forms.ChoiceField(choices=Vendor.RiskTier.choices, initial=Vendor.RiskTier.MEDIUM)
    contact_name = forms.CharField(max_length=200, required=False)
    contact_email = forms.EmailField(required=False)

    def __init__(self, *args, agencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].choices = [(a.slug, a.name) for a in agencies]


class KillSwitchForm(USWDSMixin, forms.Form):
    reason = forms.CharField(
        label="Reason (recorded in the audit trail)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
    )
    confirm = forms.BooleanField(label="I understand that this revokes the access listed above.")


class ContractForm(USWDSMixin, forms.Form):
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.none())
    reference = forms.CharField(max_length=100)
    title = forms.CharField(max_length=200, required=False)
    start_date = forms.DateField(widget=DateInput)
    end_date = forms.DateField(
        widget=DateInput, help_text="Last day of the contract, in the agency's time zone."
    )
    grace_days = forms.IntegerField(
        min_value=0, max_value=365, initial=0, help_text="Days of access kept after the end date."
    )
    procurement_contact_email = forms.EmailField(required=False, label="Procurement contact")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vendor"].queryset = permissions.restrict(
            Vendor.objects.select_related("agency"), user, permissions.MANAGE_CONTRACTS
        ).order_by("name")

    def clean(self):
        data = super().clean() or {}
        vendor, start, end = data.get("vendor"), data.get("start_date"), data.get("end_date")
        if vendor is None or start is None or end is None or end < start:
            return data  # the service names what is wrong with these
        if self.data.get("past_ok"):
            return data
        grace = data.get("grace_days") or 0
        try:
            ends = Contract(vendor=vendor, end_date=end, grace_days=grace).compute_access_ends_at()
        except OverflowError:
            return data  # the service names the date it cannot compute
        if ends <= timezone.now():
            # Legitimate (recording history), but usually a typo: ask before saving.
            self.fields["past_ok"] = forms.BooleanField(
                required=False,
                label="Record it anyway: this contract is wholly in the past.",
                widget=forms.CheckboxInput(attrs={"class": "usa-checkbox__input"}),
            )
            self.add_error(
                "end_date",
                f"Access under this contract would have ended on {ends:%Y-%m-%d %H:%M %Z}: it "
                "is wholly in the past, and any credential registered under it would be "
                "revoked at once. Check the dates, or tick the box below to record it anyway.",
            )
        return data


class ContractEndDateForm(USWDSMixin, forms.Form):
    id_prefix = "end"
    end_date = forms.DateField(widget=DateInput, label="New end date")
    grace_days = forms.IntegerField(min_value=0, max_value=365, required=False)
    reason = forms.CharField(max_length=500, label="Reason for the change")


class ContractTerminateForm(USWDSMixin, forms.Form):
    id_prefix = "terminate"
    effective_date = forms.DateField(
        widget=DateInput, required=False, help_text="Leave empty to terminate today."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class ContractImportForm(USWDSMixin, forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "Columns: vendor (registration number or legal name), reference, title, "
            "start_date, end_date (YYYY-MM-DD), grace_days, procurement_contact_email."
        ),
    )
    agency = forms.ChoiceField(help_text="Vendors are looked up in this agency.")

    def __init__(self, *args, agencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].choices = [(a.slug, a.name) for a in agencies]


class SystemFilterForm(USWDSMixin, forms.Form):
    q = forms.CharField(label="Search system name", required=False)
    lifecycle = forms.ChoiceField(
        choices=[("", "Any lifecycle"), *System.Lifecycle.choices], required=False
    )
    data_classification = forms.ChoiceField(
        label="Classification",
        choices=[("", "Any classification"), *System.Classification.choices],
        required=False,
    )
    kind = forms.ChoiceField(choices=[("", "Any kind"), *System.Kind.choices], required=False)


class RevokeForm(USWDSMixin, forms.Form):
    id_prefix = "revoke"
    reason = forms.CharField(
        max_length=1000,
        label="Reason for revoking",
        error_messages={"required": "Give a reason for revoking the credential."},
    )


class ManualTaskCompleteForm(USWDSMixin, forms.Form):
    id_prefix = "task"
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="What was done (kept in the audit trail)",
        error_messages={"required": "Say what you did to revoke the access."},
    )


class AuditFilterForm(USWDSMixin, forms.Form):
    q = forms.CharField(label="Search (action, target, actor, request id)", required=False)
    action = forms.CharField(label="Action starts with", required=False)
    actor = forms.CharField(label="Actor", required=False)
    agency = forms.ChoiceField(choices=[("", "All agencies")], required=False)
    date_from = forms.DateField(widget=DateInput, required=False, label="From")
    date_to = forms.DateField(widget=DateInput, required=False, label="To")

    def __init__(self, *args, agencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency"].choices = [("", "All agencies")] + [
            (a.slug, a.name) for a in agencies
        ]

    def clean(self):
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the range must not be before its start.")
        return data


class FindingFilterForm(USWDSMixin, forms.Form):
    kind = forms.ChoiceField(choices=(), required=False)
    severity = forms.ChoiceField(
        choices=[("", "Any severity"), *reversed(Severity.CHOICES)], required=False
    )
    status = forms.ChoiceField(
        choices=[("live", "Open or acknowledged"), ("", "Any status"), *Finding.Status.choices],
        required=False,
    )
    system = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    vendor = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read per request: other apps may register kinds after this module loads.
        self.fields["kind"].choices = [("", "Any kind"), *kind_choices()]


class FindingTriageForm(USWDSMixin, forms.Form):
    id_prefix = "triage"
    to = forms.ChoiceField(
        label="Decision",
        choices=[
            ("acknowledged", "Acknowledge (someone is on it)"),
            ("resolved", "Resolve"),
            ("false_positive", "False positive"),
        ],
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="Why (kept in the audit trail)",
    )


class FindingAdoptForm(USWDSMixin, forms.Form):
    id_prefix = "adopt"
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.none())
    contracts = forms.ModelMultipleChoiceField(
        queryset=Contract.objects.none(), help_text="Contracts that authorise this access."
    )
    holder = forms.CharField(max_length=200, required=False)
    reason = forms.CharField(max_length=1000, required=False, label="Note for the audit trail")

    def __init__(self, *args, user, agency_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        perm = permissions.MANAGE_INVENTORY
        self.fields["vendor"].queryset = (
            permissions.restrict(Vendor.objects.all(), user, perm)
            .filter(agency_id=agency_id)
            .order_by("name")
        )
        self.fields["contracts"].queryset = (
            permissions.restrict(Contract.objects.all(), user, perm)
            .filter(vendor__agency_id=agency_id)
            .select_related("vendor")
            .exclude(status=Contract.Status.ENDED)
            .order_by("vendor__name", "reference")
        )
        self.fields["contracts"].label_from_instance = lambda c: (
            f"{c.vendor.name}: {c.reference} (ends {c.end_date:%Y-%m-%d})"
        )
        # An agency may hold thousands of contracts: the page shows the searchable picker
        # scoped to the chosen vendor (dashboard.credential_forms), no widget lists them all.
        self.user = user
        self.fields["contracts"].widget = forms.MultipleHiddenInput()
        self.fields["vendor"].widget.attrs.update(
            {
                "hx-get": reverse("credential_contract_picker"),
                "hx-trigger": "change",
                "hx-target": "#contract-picker",
                "hx-swap": "outerHTML",
                "hx-include": "closest form",
            }
        )

    def picker_fields(self):
        return [f for f in self if f.name != "contracts"]

    def contract_picker(self):
        from dashboard.credential_forms import ContractPicker

        raw = self.data.get("vendor") if self.is_bound else None
        return ContractPicker(
            user=self.user,
            vendor_id=int(raw) if raw and str(raw).isdigit() else None,
            q="",
            selected=self.data.getlist("contracts") if hasattr(self.data, "getlist") else [],
        )
