"""Agencies, vendors and contracts (and the terminate verb's body)."""

from rest_framework import serializers

from api.serializers.base import MultiLineText, ScopedPrimaryKeyRelatedField, ServiceModelSerializer
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import MANAGE_CONTRACTS, MANAGE_VENDORS


class AgencySerializer(serializers.ModelSerializer):
    class Meta:
        model = Agency
        fields = ["id", "name", "slug", "time_zone", "created_at"]
        read_only_fields = fields


class RiskPartsSerializer(serializers.Serializer):
    """The parts of a vendor's risk score (README, "Risk per vendor")."""

    tier = serializers.IntegerField(source="risk_tier_points", help_text="Risk tier: 5 to 25.")
    classification = serializers.IntegerField(
        source="risk_data_points", help_text="Most sensitive classification still reached: 0-25."
    )
    records = serializers.IntegerField(
        source="risk_records_points", help_text="Citizen records of the largest system: 0-20."
    )
    privileges = serializers.IntegerField(
        source="risk_privilege_points", help_text="Live privileged credentials: 0-10."
    )
    findings = serializers.IntegerField(
        source="risk_finding_points", help_text="Open findings by severity: 0-20."
    )


class VendorSerializer(ServiceModelSerializer):
    agency = ScopedPrimaryKeyRelatedField(perm=MANAGE_VENDORS, queryset=Agency.objects.all())
    risk_score = serializers.IntegerField(
        read_only=True, help_text="0-100: the sum of risk_parts (README, 'Risk per vendor')."
    )
    risk_parts = RiskPartsSerializer(source="*", read_only=True)

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
            "security_contact_name",
            "security_contact_email",
            "status",
            "risk_score",
            "risk_parts",
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


class ContractTerminateSerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Last day of access (agency time zone); default today.",
    )
    reason = MultiLineText(max_length=2000)
