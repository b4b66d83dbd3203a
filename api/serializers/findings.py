"""Findings, reconciliation runs and the adopt verb's body."""

from rest_framework import serializers

from access.models import Credential
from api.serializers.base import MultiLineText, ScopedPrimaryKeyRelatedField, Text
from findings.models import RUN_COUNT_FIELDS, Finding, ReconciliationRun
from vendors.models import Contract, Vendor
from vendors.permissions import MANAGE_INVENTORY


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
            *RUN_COUNT_FIELDS,
            "error",
        ]
        read_only_fields = fields


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
