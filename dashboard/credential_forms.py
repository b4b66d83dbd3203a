"""Credential forms: register, edit, and the searchable contract picker they share.

A vendor may hold thousands of contracts, so the contracts field never lists them all:
the picker shows the chosen ones and a page of the vendor's running contracts matching
a search (vendors.selectors.contract_picker), refreshed by htmx as the person types or
changes the vendor. Any contract of the person's agencies validates here; that every one
belongs to the credential's vendor, and the rest, is access.services' business.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.urls import reverse
from django.utils import timezone

from access.models import Credential, System
from dashboard.forms import USWDSMixin
from vendors import permissions
from vendors.models import Contract, Vendor
from vendors.selectors import contract_picker

PERM = permissions.MANAGE_INVENTORY


def contract_label(contract: Contract) -> str:
    title = f" — {contract.title}" if contract.title else ""
    return (
        f"{contract.reference}{title} (ends {contract.end_date:%Y-%m-%d}, "
        f"{contract.get_status_display().lower()})"
    )


class ContractPicker:
    """What the picker template shows: chosen contracts (checked), a page of matches."""

    def __init__(self, *, user, vendor_id: int | None, q: str, selected, errors=()):
        self.vendor_id = vendor_id
        self.q = q
        self.errors = list(errors)
        self.chosen: list[Contract] = []
        self.matches: list[Contract] = []
        self.total = 0
        if vendor_id is not None:
            self.chosen, self.matches, self.total = contract_picker(
                user=user, perm=PERM, vendor_id=vendor_id, q=q, selected=selected
            )

    def chosen_options(self) -> list[tuple[Contract, str]]:
        return [(c, contract_label(c)) for c in self.chosen]

    def match_options(self) -> list[tuple[Contract, str]]:
        return [(c, contract_label(c)) for c in self.matches]

    @property
    def more(self) -> int:
        return max(self.total - len(self.matches), 0)


class _ContractsMixin(USWDSMixin):
    """The contracts field: validated against every contract the user may manage."""

    def _setup_contracts(self, user) -> None:
        self.user = user
        field = self.fields["contracts"]
        field.queryset = permissions.restrict(Contract.objects.all(), user, PERM)
        # The template renders the picker; no widget lists the whole queryset.
        field.widget = forms.MultipleHiddenInput()

    def picker(self, vendor_id: int | None) -> ContractPicker:
        selected = (
            self.data.getlist("contracts")
            if self.is_bound and hasattr(self.data, "getlist")
            else [c.pk for c in self.initial.get("contracts", [])]
        )
        q = str(self.data.get("contract_q", "")) if self.is_bound else ""
        return ContractPicker(
            user=self.user,
            vendor_id=vendor_id,
            q=q[:100],
            selected=selected,
            errors=self.errors.get("contracts", []) if self.is_bound else [],
        )


class CredentialForm(_ContractsMixin, forms.Form):
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.none())
    system = forms.ModelChoiceField(queryset=System.objects.none())
    contracts = forms.ModelMultipleChoiceField(
        queryset=Contract.objects.none(), help_text="Contracts that authorise this access."
    )
    kind = forms.ChoiceField(choices=Credential.Kind.choices)
    external_id = forms.CharField(
        max_length=500, label="Identifier on the target", help_text="Role name, DN, SCIM id, ..."
    )
    holder = forms.CharField(max_length=200, required=False)
    privileges = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vendor"].queryset = permissions.restrict(
            Vendor.objects.all(), user, PERM
        ).order_by("name")
        self.fields["system"].queryset = permissions.restrict(
            System.objects.all(), user, PERM
        ).exclude(lifecycle=System.Lifecycle.DECOMMISSIONED)
        self._setup_contracts(user)
        # Choosing a vendor lists its contracts (htmx; without script, submitting does).
        self.fields["vendor"].widget.attrs.update(
            {
                "hx-get": reverse("credential_contract_picker"),
                "hx-trigger": "change",
                "hx-target": "#contract-picker",
                "hx-swap": "outerHTML",
                "hx-include": "closest form",
            }
        )

    def vendor_id(self) -> int | None:
        raw = self.data.get("vendor") if self.is_bound else None
        return int(raw) if raw and str(raw).isdigit() else None

    def contract_picker(self) -> ContractPicker:
        return self.picker(self.vendor_id())

    def fields_before_picker(self):
        return [self[name] for name in ("vendor", "system")]

    def fields_after_picker(self):
        return [self[name] for name in ("kind", "external_id", "holder", "privileges")]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class CredentialEditForm(_ContractsMixin, forms.Form):
    """Details and contracts of a registered credential; times in the agency's zone."""

    holder = forms.CharField(max_length=200, required=False)
    privileges = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    issued_at = forms.DateTimeField(label="Issued", required=False, widget=DateTimeLocalInput())
    expires_at = forms.DateTimeField(
        label="Expires",
        required=False,
        widget=DateTimeLocalInput(),
        help_text="Access is revoked at this time even while a contract runs.",
    )
    contracts = forms.ModelMultipleChoiceField(
        queryset=Contract.objects.none(), help_text="Contracts that authorise this access."
    )

    def __init__(self, *args, user, credential: Credential, **kwargs):
        self.credential = credential
        self.tz = credential.system.agency.tz
        initial = kwargs.setdefault("initial", {})
        initial.update(
            holder=credential.holder,
            privileges=credential.privileges,
            issued_at=self._local(credential.issued_at),
            expires_at=self._local(credential.expires_at),
            contracts=list(credential.contracts.all()),
        )
        super().__init__(*args, **kwargs)
        zone = f"Time in {self.tz.key}."
        for name in ("issued_at", "expires_at"):
            help_text = self.fields[name].help_text
            self.fields[name].help_text = f"{help_text} {zone}".strip()
        self._setup_contracts(user)

    def _local(self, value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(self.tz).replace(tzinfo=None) if value else None

    def _aware(self, value: dt.datetime | None, stored: dt.datetime | None) -> dt.datetime | None:
        # The browser sends a wall time to the minute; it means that time in the agency's
        # zone. The stored value's own minute comes back unchanged, seconds and all, so
        # saving other fields records no change to it.
        if value is None:
            return None
        wall = value.replace(tzinfo=None, second=0, microsecond=0)
        local = self._local(stored)
        if (
            stored is not None
            and local is not None
            and local.replace(second=0, microsecond=0) == wall
        ):
            return stored
        return timezone.make_aware(wall, self.tz)

    def contract_picker(self) -> ContractPicker:
        return self.picker(self.credential.vendor_id)

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "holder": data["holder"],
            "privileges": data["privileges"],
            "issued_at": self._aware(data["issued_at"], self.credential.issued_at),
            "expires_at": self._aware(data["expires_at"], self.credential.expires_at),
            "contracts": list(data["contracts"]),
        }

    def fields_before_picker(self):
        return [self[name] for name in ("holder", "privileges", "issued_at", "expires_at")]

    def fields_after_picker(self):
        return []
