"""``/api/v1/usage-events/``: log shippers report logins on targets Sundown cannot read
live (``POST``, a batch, idempotent by event id); readers list what was reported.

The rules are ``findings.ingest``'s; this module parses and renders only.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from access.models import System
from api.filters import DateTimeRangeFilter, IdFilter, StrictFilterSet
from api.serializers import ScopedPrimaryKeyRelatedField, Text
from api.viewsets import AgencyScopedViewSet, unexpected_fields
from findings import selectors
from findings.ingest import MAX_BATCH, UsageReport, usage_events_ingest
from findings.models import UsageEvent
from vendors.permissions import MANAGE_INVENTORY, agency_path

# A shipper's clock may run a little ahead of ours; more than this is a wrong time.
FUTURE_SKEW = dt.timedelta(minutes=5)
IN_THE_FUTURE = "A login cannot be in the future."


@extend_schema_field(
    {"type": "string", "nullable": True, "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
)
class IpAddressField(serializers.IPAddressField):
    """An IPv4 or IPv6 address, as the schema says it."""


class UsageEventInSerializer(serializers.Serializer):
    """One reported login."""

    id = Text(max_length=200, help_text="The shipper's event id: the same id is stored once.")
    system = ScopedPrimaryKeyRelatedField(
        perm=MANAGE_INVENTORY,
        queryset=System.objects.all(),
        help_text="The system logged in to.",
    )
    account = Text(max_length=500, help_text="The account's identifier on the target.")
    occurred_at = serializers.DateTimeField(help_text="When the login happened (RFC 3339).")
    source_address = IpAddressField(
        required=False, allow_null=True, help_text="The client's address."
    )
    bytes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=2**63 - 1,
        help_text="Bytes read in the session, where the log says.",
    )

    def to_internal_value(self, data):
        unknown = unexpected_fields(self, data)
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            detail = (
                exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            )
            raise ValidationError({**unknown, **detail}) from None
        if unknown:
            raise ValidationError(unknown)
        return value

    def validate_occurred_at(self, value):
        if value > timezone.now() + FUTURE_SKEW:
            raise serializers.ValidationError(IN_THE_FUTURE)
        return value


class UsageEventBatchSerializer(serializers.Serializer):
    events = UsageEventInSerializer(
        many=True,
        allow_empty=False,
        max_length=MAX_BATCH,  # type: ignore[call-arg]  # ListSerializer takes it
        help_text=f"1 to {MAX_BATCH} logins.",
    )

    def to_internal_value(self, data):
        # Every event's system in one scoped query, not one per event.
        events = data.get("events") if isinstance(data, dict) else None
        if isinstance(events, list) and len(events) <= MAX_BATCH:
            items = self.fields["events"]
            assert isinstance(items, serializers.ListSerializer)
            assert isinstance(items.child, UsageEventInSerializer)
            system = items.child.fields["system"]
            assert isinstance(system, ScopedPrimaryKeyRelatedField)
            system.prefetch(e.get("system") for e in events if isinstance(e, dict))
        return super().to_internal_value(data)


class UsageIngestResultSerializer(serializers.Serializer):
    accepted = serializers.ListField(
        child=serializers.CharField(), help_text="Event ids stored by this request."
    )
    duplicates = serializers.ListField(
        child=serializers.CharField(), help_text="Event ids already stored: ignored."
    )
    findings_opened = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the findings these logins opened."
    )


class UsageEventSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="system.agency_id", read_only=True)

    class Meta:
        model = UsageEvent
        fields = [
            "id",
            "event_id",
            "agency",
            "system",
            "account",
            "occurred_at",
            "source_address",
            "bytes",
            "credential",
            "vendor",
            "volume_anomaly",
            "received_at",
            "reported_by",
        ]
        read_only_fields = fields


class UsageEventFilter(StrictFilterSet):
    agency = IdFilter(field_name=agency_path(UsageEvent))
    system = IdFilter(field_name="system_id")
    vendor = IdFilter(field_name="vendor_id")
    credential = IdFilter(field_name="credential_id")
    account = filters.CharFilter(help_text="Exact account identifier on the target.")
    occurred_at = DateTimeRangeFilter(
        help_text="occurred_at_after / occurred_at_before: when the login happened."
    )

    class Meta:
        model = UsageEvent
        fields = ["agency", "system", "vendor", "credential", "account", "occurred_at"]


def _item_errors(detail) -> dict:
    """``events`` errors per item as ``events[3].occurred_at``: which login, which field.

    DRF gives a list's item errors as a list (one entry per item) or, since 3.15, as a
    dict keyed by the items' positions; a message about the list itself stays ``events``.
    """
    items = detail.get("events") if isinstance(detail, dict) else None
    if isinstance(items, list) and all(isinstance(i, dict) for i in items):
        items = dict(enumerate(items))
    if not isinstance(items, dict):
        return detail
    flat = {key: value for key, value in detail.items() if key != "events"}
    for index, item in items.items():
        for name, messages in item.items() if isinstance(item, dict) else [("", item)]:
            flat[f"events[{index}].{name}" if name else f"events[{index}]"] = messages
    return flat


@extend_schema_view(
    list=extend_schema(summary="Logins reported by log shippers"),
    retrieve=extend_schema(summary="One reported login"),
    create=extend_schema(
        summary="Report logins (log shippers)",
        description=(
            "A batch of logins on targets Sundown cannot read live. Idempotent: an event id "
            "already stored for its system is ignored (listed in `duplicates`). Logins after "
            "revocation or after every contract ended, from outside the vendor's allowed "
            "networks, or far above the vendor's usual volume open findings; credentials' "
            "last use moves forward."
        ),
        request=UsageEventBatchSerializer,
        responses={200: UsageIngestResultSerializer},
    ),
)
class UsageEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, AgencyScopedViewSet
):
    serializer_class = UsageEventSerializer
    filterset_class = UsageEventFilter
    ordering_fields = ["occurred_at", "received_at"]
    ordering = ["-occurred_at", "-id"]
    write_perm = MANAGE_INVENTORY
    http_method_names = ["get", "post", "head"]

    def rows(self, perm):
        return selectors.usage_event_list(user=self.request.user, perm=perm).select_related(
            "system"
        )

    def get_serializer_class(self):
        if self.action == "create":
            return UsageEventBatchSerializer
        return super().get_serializer_class()

    def create(self, request, *args, **kwargs):
        try:
            data = self.validated(UsageEventBatchSerializer)
        except ValidationError as exc:
            raise ValidationError(_item_errors(exc.detail)) from None
        reports = [
            UsageReport(
                event_id=item["id"],
                system=item["system"],
                account=item["account"],
                occurred_at=item["occurred_at"],
                source=item.get("source_address"),
                bytes=item.get("bytes"),
            )
            for item in data["events"]
        ]
        result = usage_events_ingest(actor=self.actor(), reports=reports)
        body = UsageIngestResultSerializer(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "findings_opened": result.findings_opened,
            }
        ).data
        return Response(body, status=status.HTTP_200_OK)
