"""Revocation attempts, manual tasks and what the kill switch queued."""

from rest_framework import serializers

from api.serializers.base import MultiLineText
from api.serializers.inventory import CredentialSerializer
from api.serializers.vendors import VendorSerializer
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import connector_error_readers, connector_error_shown


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


class ManualTaskCompleteSerializer(serializers.Serializer):
    note = MultiLineText(
        max_length=5000, help_text="What was done to revoke the access, for the audit trail."
    )


class KillSwitchResultSerializer(serializers.Serializer):
    vendor = VendorSerializer()
    queued_count = serializers.IntegerField()
    queued = CredentialSerializer(many=True)
