"""Audit events, every stored column."""

from rest_framework import serializers

from audit.hashing import COLUMNS
from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        # Every stored column, prev_hash and hash included, so a SIEM can verify the chain.
        fields = list(COLUMNS)
        read_only_fields = fields
