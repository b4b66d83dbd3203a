"""The exposure page's question; it only parses input (audit.exposure answers it)."""

from django import forms

from audit.exposure import CLASSIFICATIONS
from dashboard.forms import USWDSMixin


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M:%S", **kwargs)


class ExposureForm(USWDSMixin, forms.Form):
    at = forms.DateTimeField(
        label="At (UTC)",
        widget=DateTimeLocalInput(attrs={"step": "1"}),
        help_text="The moment a breach is claimed for, e.g. 2026-03-01 14:30.",
    )
    system = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="System", choices=()
    )
    vendor = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Vendor", choices=()
    )
    min_classification = forms.ChoiceField(
        required=False,
        label="Classified at least",
        choices=[("", "Any classification")] + [(c, c.title()) for c in CLASSIFICATIONS],
    )
    citizen_records = forms.BooleanField(required=False, label="Only systems with citizen records")

    def __init__(self, *args, systems=(), vendors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [("", "Any system")] + [(pk, n) for pk, n in systems]
        self.fields["vendor"].choices = [("", "Any vendor")] + [(pk, n) for pk, n in vendors]
