"""Serializers: input shape and output representation only.

Every rule about what may change lives in the services, which the views call;
the only checks here are types, lengths, choices, and that related objects are
ones the user may write to (anything else "does not exist").
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import models
from rest_framework import serializers

from access.models import Credential, System
from audit.hashing import COLUMNS
from audit.models import AuditEvent
from config.text import text_problem
from findings.models import Finding, ReconciliationRun
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import connector_error_readers, connector_error_shown
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import MANAGE_CONTRACTS, MANAGE_INVENTORY, MANAGE_VENDORS, restrict

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


class AgencySerializer(serializers.ModelSerializer):
    class Meta:
        model = Agency
        fields = ["id", "name", "slug", "time_zone", "created_at"]
        read_only_fields = fields


class VendorSerializer(ServiceModelSerializer):
    agency = ScopedPrimaryKeyRelatedField(perm=MANAGE_VENDORS, queryset=Agency.objects.all())

    class Meta:
        model = Vendor
        fields = [
            "id",
            "agency",
            "name",
            "registration_number",
            "risk_tier",
            "contact_name",
            "contact_email",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "created_at", "updated_at"]
        immutable = ("agency", "status")
        validators: list = []  # uniqueness is the service's (and the database's) job


class ContractSerializer(ServiceModelSerializer):
    vendor = ScopedPrimaryKeyRelatedField(perm=MANAGE_CONTRACTS, queryset=Vendor.objects.all())
    agency = serializers.IntegerField(source="vendor.agency_id", read_only=True)
    change_reason = MultiLineText(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Why end_date or grace_days change (recorded in the audit trail).",
    )

    class Meta:
        model = Contract
        fields = [
            "id",
            "agency",
            "vendor",
            "reference",
            "title",
            "start_date",
            "end_date",
            "grace_days",
            "access_ends_at",
            "status",
            "procurement_contact_email",
            "termination_reason",
            "change_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "access_ends_at",
            "status",
            "termination_reason",
            "created_at",
            "updated_at",
        ]
        immutable = ("vendor",)
        # An update that sends one of these must say why (api.schema states it too).
        reason_required_with = {"change_reason": ("end_date", "grace_days")}
        validators: list = []

    def validate(self, attrs):
        attrs = super().validate(attrs)
        moving = self.instance is not None and ("end_date" in attrs or "grace_days" in attrs)
        if moving and not str(attrs.get("change_reason", "")).strip():
            raise serializers.ValidationError(
                {"change_reason": ["Say why end_date or grace_days change (it is audited)."]}
            )
        return attrs


class ConfigField(serializers.JSONField):
    """A system's connection settings (api.schema.config_schema says which keys)."""


class SystemSerializer(ServiceModelSerializer):
    agency = ScopedPrimaryKeyRelatedField(perm=MANAGE_INVENTORY, queryset=Agency.objects.all())
    config = ConfigField(
        required=False,
        allow_null=True,
        help_text=(
            "Non-secret connection settings of the system's kind (host, port, database, ...); "
            "only the settings its connector reads are accepted, and destinations must be "
            "allowed by the deployment. null is {}. Changing where the system points clears "
            "the stored secret unless a new one is sent with it."
        ),
    )
    secret = JsonString(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=10000,
        style={"input_type": "password"},
        help_text="Connection secret; stored encrypted, never returned. Empty clears it.",
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = System
        fields = [
            "id",
            "agency",
            "name",
            "kind",
            "config",
            "secret",
            "has_secret",
            "lifecycle",
            "data_classification",
            "estimated_records",
            "owner_email",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        immutable = ("agency",)
        validators: list = []

    def validate_config(self, value):
        # The keys and destinations are the service's rules (access.system_config).
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("Connection settings must be a JSON object.")
        return {} if value is None else value


class CredentialSerializer(ServiceModelSerializer):
    vendor = ScopedPrimaryKeyRelatedField(perm=MANAGE_INVENTORY, queryset=Vendor.objects.all())
    system = ScopedPrimaryKeyRelatedField(perm=MANAGE_INVENTORY, queryset=System.objects.all())
    contracts = ScopedPrimaryKeyRelatedField(
        perm=MANAGE_INVENTORY,
        queryset=Contract.objects.all(),
        many=True,
        allow_empty=False,
        help_text="Contracts that authorise this access (at least one, of the same vendor).",
    )
    status_label = serializers.CharField(
        read_only=True,
        help_text='"Revoked (verified)" only after a read of the target; a person\'s word '
        'is "Revoked, confirmed by <name>".',
    )

    class Meta:
        model = Credential
        fields = [
            "id",
            "vendor",
            "system",
            "contracts",
            "kind",
            "external_id",
            "holder",
            "privileges",
            "status",
            "status_label",
            "last_seen_on_target_at",
            "target_checked_at",
            "issued_at",
            "expires_at",
            "last_used_at",
            "revocation_requested_at",
            "revocation_reason",
            "revoked_at",
            "revoked_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "last_seen_on_target_at",
            "target_checked_at",
            "revocation_requested_at",
            "revocation_reason",
            "revoked_at",
            "revoked_by",
            "created_at",
            "updated_at",
        ]
        immutable = ("vendor", "system", "kind", "external_id")
        validators: list = []


class FindingSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="system.agency_id", read_only=True)
    kind_label = serializers.CharField(read_only=True)
    evidence = serializers.JSONField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "agency",
            "kind",
            "kind_label",
            "severity",
            "status",
            "system",
            "account",
            "vendor",
            "credential",
            "summary",
            "evidence",
            "first_seen_at",
            "last_seen_at",
            "times_seen",
            "status_changed_at",
            "status_changed_by",
            "status_reason",
        ]
        read_only_fields = fields


class ReconciliationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "system",
            "status",
            "trigger",
            "requested_by",
            "worker",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "accounts",
            "active_accounts",
            "sessions",
            "matched",
            "orphans",
            "drifted",
            "not_found",
            "used_after_end",
            "findings_opened",
            "findings_resolved",
            "error",
        ]
        read_only_fields = fields


class RevocationAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevocationAttempt
        fields = [
            "id",
            "credential",
            "system",
            "connector",
            "worker",
            "attempt",
            "outcome",
            "permanent",
            "error",
            "started_at",
            "finished_at",
            "duration_ms",
        ]
        read_only_fields = fields


class ManualTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = ManualTask
        fields = [
            "id",
            "credential",
            "system",
            "status",
            "reason",
            "detail",
            "opened_at",
            "completed_at",
            "completed_by",
            "note",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "detail": {
                "help_text": "What the connector reported (the target's own words) for "
                "readers with the audit permission in the task's agency; a neutral label "
                "for everyone else."
            }
        }

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Once per response, not per row: a list's rows share the root serializer.
        readers = getattr(self.root, "_connector_error_readers", None)
        if readers is None:
            request = self.context.get("request")
            readers = connector_error_readers(getattr(request, "user", None))
            self.root._connector_error_readers = readers  # type: ignore[attr-defined]
        data["detail"] = connector_error_shown(data["detail"], obj=instance, readers=readers)
        return data


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        # Every stored column, prev_hash and hash included, so a SIEM can verify the chain.
        fields = list(COLUMNS)
        read_only_fields = fields


# Verbs ----------------------------------------------------------------------


class ContractTerminateSerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Last day of access (agency time zone); default today.",
    )
    reason = MultiLineText(max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = MultiLineText(max_length=2000)


class ManualTaskCompleteSerializer(serializers.Serializer):
    note = MultiLineText(
        max_length=5000, help_text="What was done to revoke the access, for the audit trail."
    )


class FindingAdoptSerializer(serializers.Serializer):
    vendor = ScopedPrimaryKeyRelatedField(
        perm=MANAGE_INVENTORY,
        queryset=Vendor.objects.all(),
        help_text="The vendor whose access the account is.",
    )
    contracts = ScopedPrimaryKeyRelatedField(
        perm=MANAGE_INVENTORY,
        queryset=Contract.objects.all(),
        many=True,
        allow_empty=False,
        help_text="Contracts that authorise the access (at least one, of the same vendor).",
    )
    kind = serializers.ChoiceField(
        choices=Credential.Kind.choices,
        required=False,
        help_text="The credential's kind; by default the usual one for the system's kind.",
    )
    holder = Text(max_length=200, required=False, allow_blank=True, default="")
    privileges = MultiLineText(max_length=5000, required=False, allow_blank=True, default="")
    reason = MultiLineText(max_length=2000, required=False, allow_blank=True, default="")


class KillSwitchResultSerializer(serializers.Serializer):
    vendor = VendorSerializer()
    queued_count = serializers.IntegerField()
    queued = CredentialSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # A body field named "fields", which shadows Serializer.fields only for type checkers:
    # DRF collects declared fields before the class attribute is read.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field; 'non_field_errors' for the request as a whole.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = ErrorDetailSerializer()
