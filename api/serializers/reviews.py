"""Access review campaigns and items, and the bodies of their verbs."""

from rest_framework import serializers

from access.models import System
from api.serializers.base import MultiLineText, ScopedPrimaryKeyRelatedField, Text
from reviews.models import ANSWERS, OnNoAnswer, ReviewCampaign, ReviewItem, Scope
from vendors.models import Agency, Vendor
from vendors.permissions import REVOKE


class ReviewCampaignSerializer(serializers.ModelSerializer):
    agency = ScopedPrimaryKeyRelatedField(perm=REVOKE, queryset=Agency.objects.all())
    name = Text(max_length=200)
    scope = serializers.ChoiceField(choices=Scope.choices, default=Scope.ALL)
    vendor = ScopedPrimaryKeyRelatedField(
        perm=REVOKE,
        queryset=Vendor.objects.all(),
        required=False,
        allow_null=True,
        help_text="The vendor of a `vendor` campaign (only then).",
    )
    system = ScopedPrimaryKeyRelatedField(
        perm=REVOKE,
        queryset=System.objects.all(),
        required=False,
        allow_null=True,
        help_text="The system of a `system` campaign (only then).",
    )
    deadline = serializers.DateTimeField(help_text="In the future.")
    on_no_answer = serializers.ChoiceField(choices=OnNoAnswer.choices, default=OnNoAnswer.REVOKE)
    items = serializers.IntegerField(source="n_items", read_only=True)
    pending = serializers.IntegerField(source="n_pending", read_only=True)
    kept = serializers.IntegerField(source="n_keep", read_only=True)
    revoked = serializers.IntegerField(source="n_revoke", read_only=True)
    lapsed = serializers.IntegerField(source="n_lapsed", read_only=True)
    escalated = serializers.IntegerField(source="n_escalated", read_only=True)

    class Meta:
        model = ReviewCampaign
        fields = [
            "id",
            "agency",
            "name",
            "scope",
            "vendor",
            "system",
            "deadline",
            "on_no_answer",
            "status",
            "schedule",
            "created_by",
            "created_at",
            "closed_at",
            "items",
            "pending",
            "kept",
            "revoked",
            "lapsed",
            "escalated",
        ]
        read_only_fields = ["status", "schedule", "created_by", "created_at", "closed_at"]


class ReviewItemSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="campaign.agency_id", read_only=True)
    reviewer = serializers.CharField(
        source="reviewer.username", read_only=True, default=None, allow_null=True
    )
    external_id = serializers.CharField(source="credential.external_id", read_only=True)
    vendor = serializers.IntegerField(source="credential.vendor_id", read_only=True)
    system = serializers.IntegerField(source="credential.system_id", read_only=True)

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "agency",
            "campaign",
            "credential",
            "external_id",
            "vendor",
            "system",
            "reviewer",
            "decision",
            "reason",
            "decided_at",
            "decided_by",
        ]
        read_only_fields = fields


class ReviewDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ANSWERS)
    reason = MultiLineText(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Required to keep; recorded in the audit trail.",
    )


class ReviewBulkDecisionSerializer(ReviewDecisionSerializer):
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**53),
        min_length=1,
        max_length=500,
        help_text="Ids of items waiting for your answer (others are left alone).",
    )


class ReviewDecidedSerializer(serializers.Serializer):
    decided = serializers.ListField(child=serializers.IntegerField(), read_only=True)


class ReviewReassignSerializer(serializers.Serializer):
    reviewer = Text(max_length=150, help_text="User name of the new reviewer.")
    from_reviewer = Text(
        max_length=150,
        required=False,
        allow_blank=True,
        help_text="Move this reviewer's waiting items (empty or absent: the unassigned ones).",
    )


class ReviewReassignedSerializer(serializers.Serializer):
    reassigned = serializers.IntegerField(read_only=True)
