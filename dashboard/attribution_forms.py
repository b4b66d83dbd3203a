"""Forms of a vendor's account patterns and allowed networks; they only parse input
(findings.attribution checks and writes)."""

from django import forms

from dashboard.forms import USWDSMixin
from findings.models import AccountPattern


class AccountPatternForm(USWDSMixin, forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=AccountPattern.Kind.choices)
    value = forms.CharField(
        label="Value",
        max_length=500,
        help_text="acme_ (prefix), acme.example (e-mail domain), ou=acme,dc=agency,dc=example "
        "(OU), cn=acme-staff,ou=groups,dc=agency,dc=example (group).",
    )


class VendorNetworkForm(USWDSMixin, forms.Form):
    cidr = forms.CharField(
        label="Network",
        max_length=64,
        help_text="An address or CIDR block the vendor connects from: 203.0.113.0/24, "
        "2001:db8::/48.",
    )
    note = forms.CharField(label="Note", max_length=200, required=False)
