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


class ContractTerminateSerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Last day of access (agency time zone); default today.",
    )
    reason = MultiLineText(max_length=2000)
