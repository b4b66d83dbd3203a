"""The system form: connection settings per connector kind, with each setting's help.

The fields come from the connector registry: one fieldset per kind, one field per key
the kind's connector declares (``config_keys``), labelled and explained by its
``config_help``. Only the chosen kind's fieldset is read. The secret is write-only:
empty keeps the stored one, "clear" removes it. Which settings and destinations are
allowed, and when a secret is cleared, is the services' business
(access.services.system_update), not this form's.
"""

from __future__ import annotations

from typing import Any

from django import forms

from access.models import System
from access.system_config import MULTILINE_MAX
from dashboard.forms import USWDSMixin
from revocation.connectors.meta import Setting
from revocation.connectors.registry import CONNECTORS, connector_meta

_BOOL_CHOICES = [("", "Default"), ("true", "Yes"), ("false", "No")]
_SECRET_MAX = 10000


def config_field_name(kind: str, key: str) -> str:
    return f"config__{kind}__{key}"


def kind_settings(kind: str) -> list[tuple[str, Setting]]:
    """Every key a kind's connector reads, in a stable order, with its help (from the
    kind's meta module: building the form imports no connector)."""
    explained = connector_meta(kind).config_help
    return [(key, explained[key]) for key in sorted(explained, key=_key_order)]


def _key_order(key: str) -> tuple[int, str]:
    # Where before how: the keys people fill first come first.
    first = ("url", "host", "port", "path", "user", "dbname", "bind_dn", "base_dn", "host_key")
    return (first.index(key), key) if key in first else (len(first), key)


def _setting_field(key: str, setting: Setting) -> forms.Field:
    common: dict[str, Any] = {"label": key, "required": False, "help_text": setting.help}
    if setting.choices:
        default = f"Default ({setting.choices[0]})"
        return forms.ChoiceField(
            choices=[("", default), *[(c, c) for c in setting.choices]], **common
        )
    if setting.type is bool:
        return forms.ChoiceField(choices=_BOOL_CHOICES, **common)
    if setting.type is int:
        return forms.IntegerField(**common)
    if setting.type is float:
        return forms.FloatField(**common)
    if setting.multiline:
        return forms.CharField(
            max_length=MULTILINE_MAX,
            strip=False,
            widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            **common,
        )
    return forms.CharField(max_length=1000, **common)


def _setting_value(setting: Setting, value):
    if setting.type is bool and not setting.choices:
        return value == "true"
    return value


def _setting_initial(setting: Setting, value):
    if setting.type is bool and not setting.choices and isinstance(value, bool):
        return "true" if value else "false"
    return value


class SystemForm(USWDSMixin, forms.Form):
    agency = forms.ChoiceField()
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=(), help_text="How Sundown revokes on this system: the connector it uses."
    )
    lifecycle = forms.ChoiceField(
        choices=[
            (System.Lifecycle.ACTIVE, "Active"),
            (System.Lifecycle.LEGACY, "Legacy (still holds data, no longer developed)"),
        ],
        initial=System.Lifecycle.ACTIVE,
    )
    data_classification = forms.ChoiceField(
        label="Data classification",
        choices=System.Classification.choices,
        initial=System.Classification.INTERNAL,
    )
    estimated_records = forms.IntegerField(
        label="Estimated citizen records", min_value=0, initial=0
    )
    owner_email = forms.EmailField(
        label="Owner's e-mail",
        required=False,
        help_text="Manual tasks and failure mail for this system go here.",
    )
    secret = forms.CharField(
        label="Secret",
        required=False,
        strip=False,
        max_length=_SECRET_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "Password, token or private key the connector logs in with. Stored encrypted "
            "and never shown again."
        ),
    )
    clear_secret = forms.BooleanField(label="Clear the stored secret", required=False)

    def __init__(self, *args, agencies=(), system: System | None = None, **kwargs):
        self.system = system
        initial = kwargs.setdefault("initial", {})
        if system is not None:
            initial.update(
                name=system.name,
                kind=system.kind,
                data_classification=system.data_classification,
                estimated_records=system.estimated_records,
                owner_email=system.owner_email,
            )
            for key, setting in kind_settings(system.kind) if system.kind in CONNECTORS else ():
                if key in (system.config or {}):
                    initial[config_field_name(system.kind, key)] = _setting_initial(
                        setting, system.config[key]
                    )
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, e.label) for k, e in CONNECTORS.items()]
        if system is None:
            self.fields["agency"].choices = [(a.slug, a.name) for a in agencies]
            del self.fields["clear_secret"]
        else:
            # Agency is fixed once registered; lifecycle has its own confirmed control.
            del self.fields["agency"], self.fields["lifecycle"]
            if system.has_secret:
                self.fields["secret"].help_text = (
                    "A secret is stored. Type a new one to replace it, or leave empty to keep "
                    "it. Changing the kind or where the system points (host, port, url, user, "
                    "TLS...) clears it unless you give a new one here."
                )
            else:
                del self.fields["clear_secret"]
        for kind in CONNECTORS:
            for key, setting in kind_settings(kind):
                field = _setting_field(key, setting)
                field.widget.attrs["class"] = (
                    "usa-select" if isinstance(field, forms.ChoiceField) else "usa-input"
                )
                self.fields[config_field_name(kind, key)] = field

    # Which kind's settings count ---------------------------------------------
    def chosen_kind(self) -> str:
        if self.is_bound:
            return str(self.data.get("kind") or "")
        return str(self.initial.get("kind") or next(iter(CONNECTORS)))

    def full_clean(self):
        super().full_clean()
        # A half-typed setting of a kind that was not chosen is no error: it is ignored.
        kind = self.chosen_kind()
        for name in list(self.errors):
            if name.startswith("config__") and not name.startswith(f"config__{kind}__"):
                del self.errors[name]

    def clean(self):
        data = super().clean() or {}
        if data.get("clear_secret") and data.get("secret"):
            self.add_error("secret", "Either type a new secret or clear the stored one, not both.")
        return data

    def kind_sections(self) -> list[dict]:
        """One fieldset per kind for the template; only the chosen one is shown."""
        chosen = self.chosen_kind()
        return [
            {
                "kind": kind,
                "label": entry.label,
                "shown": kind == chosen,
                "secret_help": connector_meta(kind).secret_help,
                "fields": [self[config_field_name(kind, key)] for key, _ in kind_settings(kind)],
            }
            for kind, entry in CONNECTORS.items()
        ]

    def main_fields(self) -> list:
        return [f for f in self if not f.name.startswith("config__")]

    # What the services get ------------------------------------------------------
    def config(self) -> dict:
        kind = self.cleaned_data["kind"]
        stored = self.system.config if self.system and kind == self.system.kind else {}
        stored = stored if isinstance(stored, dict) else {}
        config = {}
        for key, setting in kind_settings(kind):
            value = self.cleaned_data.get(config_field_name(kind, key))
            if value in (None, ""):
                continue
            value = _setting_value(setting, value)
            old = stored.get(key)
            # A value the API stored as "5432" or 5 is the form's 5432 or 5.0: keeping the
            # stored spelling keeps an unchanged destination from clearing the secret.
            same = old is not None and (old == value or str(old) == str(value))
            config[key] = old if same else value
        return config

    def service_fields(self) -> dict:
        """Keyword arguments for system_create / system_update."""
        data = self.cleaned_data
        fields: dict[str, Any] = {
            "name": data["name"],
            "kind": data["kind"],
            "config": self.config(),
            "data_classification": data["data_classification"],
            "estimated_records": data["estimated_records"],
            "owner_email": data["owner_email"],
        }
        if "lifecycle" in self.fields:
            fields["lifecycle"] = data["lifecycle"]
        if data.get("secret"):
            fields["secret"] = data["secret"]
        elif data.get("clear_secret"):
            fields["secret"] = ""
        return fields


class SystemLifecycleForm(USWDSMixin, forms.Form):
    lifecycle = forms.ChoiceField(label="New lifecycle", choices=System.Lifecycle.choices)
    confirm = forms.BooleanField(
        required=False,
        label="I understand that decommissioning revokes every vendor credential on this system.",
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("lifecycle") == System.Lifecycle.DECOMMISSIONED and not data.get("confirm"):
            self.add_error(
                "confirm", "Confirm that every vendor credential on this system will be revoked."
            )
        return data
