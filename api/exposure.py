"""API: exposure at a point in time (audit.exposure), for auditors and security officers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.filters import EMPTY, NOT_BOOLEAN, WHOLE_NUMBER
from api.viewsets import AgencyScopedViewSet
from audit.exposure import CLASSIFICATIONS, exposure_at
from audit.selectors import audit_event_list
from vendors.permissions import VIEW_AUDIT


class ExposureQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        help_text="The moment asked about (ISO 8601, e.g. 2026-03-01T12:00:00Z)."
    )
    system = serializers.IntegerField(
        required=False, min_value=1, help_text="Only credentials on this system (its id)."
    )
    vendor = serializers.IntegerField(
        required=False, min_value=1, help_text="Only this vendor's credentials (its id)."
    )
    min_classification = serializers.ChoiceField(
        choices=CLASSIFICATIONS,
        required=False,
        help_text="Only systems classified at least this at that moment.",
    )
    citizen_records = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only systems that held citizen records at that moment.",
    )

    def to_internal_value(self, data):
        # DRF reads "?vendor=" in a query string as "not given"; the schema says an id
        # (a boolean, a date-time), so an empty one is refused as the filters refuse it.
        errors: dict[str, list[str]] = {
            name: [EMPTY] for name, _ in self.fields.items() if data.get(name) == ""
        }
        # DRF also takes yes, on, 1, True...; a query string spells a boolean true or false.
        errors.update(
            {
                name: [NOT_BOOLEAN]
                for name, field in self.fields.items()
                if isinstance(field, serializers.BooleanField)
                and data.get(name) not in (None, "", "true", "false")
            }
        )
        # DRF's IntegerField also takes "1.0"; the schema's integer does not.
        errors.update(
            {
                name: [str(serializers.IntegerField.default_error_messages["invalid"])]
                for name, field in self.fields.items()
                if isinstance(field, serializers.IntegerField)
                and data.get(name) not in (None, "")
                and not WHOLE_NUMBER.fullmatch(str(data.get(name)))
            }
        )
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class ExposureCredentialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    kind = serializers.CharField(allow_null=True)
    holder = serializers.CharField(allow_null=True, allow_blank=True)
    privileges = serializers.CharField(allow_null=True, allow_blank=True)


class ExposureVendorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class ExposureSystemSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    kind = serializers.CharField(allow_null=True)
    lifecycle = serializers.CharField(allow_null=True)
    data_classification = serializers.CharField(allow_null=True)
    estimated_records = serializers.IntegerField(allow_null=True)


class ExposureContractSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(allow_null=True)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    access_ends_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.CharField(required=False, allow_null=True)
    authorising = serializers.BooleanField(help_text="Authorised access at that moment.")
    known = serializers.BooleanField(help_text="The trail holds this contract's history.")


class ExposureAfterSerializer(serializers.Serializer):
    revocation_requested_at = serializers.DateTimeField(required=False)
    revocation_trigger = serializers.CharField(required=False, allow_blank=True)
    revocation_reason = serializers.CharField(required=False, allow_blank=True)
    failed_at = serializers.DateTimeField(required=False)
    revoked_at = serializers.DateTimeField(required=False)
    revoked_by = serializers.CharField(required=False)
    revoked_verified = serializers.BooleanField(
        required=False, help_text="Verified on the target (false: a person's confirmation)."
    )
    used_after = serializers.ListField(
        child=serializers.DateTimeField(), help_text="Uses recorded after that moment."
    )
    used_after_revocation = serializers.BooleanField()


class ExposureRowSerializer(serializers.Serializer):
    credential = ExposureCredentialSerializer()
    vendor = ExposureVendorSerializer()
    system = ExposureSystemSerializer()
    status_at = serializers.CharField(help_text="active, pending or failed at that moment.")
    registered_at = serializers.DateTimeField(allow_null=True)
    authorised_at = serializers.BooleanField(
        help_text="A contract authorised this access at that moment (false: past its end)."
    )
    contracts = ExposureContractSerializer(many=True)
    after = ExposureAfterSerializer()
    seqs = serializers.ListField(
        child=serializers.IntegerField(), help_text="Audit events this row rests on."
    )


class ExposureFiltersSerializer(serializers.Serializer):
    system = serializers.IntegerField(allow_null=True)
    vendor = serializers.IntegerField(allow_null=True)
    min_classification = serializers.CharField(allow_null=True)
    citizen_records = serializers.BooleanField()


class ExposureSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    filters = ExposureFiltersSerializer()
    head_seq = serializers.IntegerField(help_text="The last audit event at or before `at`.")
    count = serializers.IntegerField()
    unauthorised_count = serializers.IntegerField()
    evidence_seqs = serializers.ListField(child=serializers.IntegerField())
    credentials = ExposureRowSerializer(many=True)


class ExposureViewSet(AgencyScopedViewSet):
    """Read-only; answers from the audit trail of the agencies where the user may read it."""

    read_perm = VIEW_AUDIT
    # One object, not a list: routed as its own action so the schema says so.
    action_perms = {"report": VIEW_AUDIT}
    filter_backends: list = []
    pagination_class = None

    def rows(self, perm):
        return audit_event_list(user=self.request.user, perm=perm)

    @extend_schema(
        summary="Vendor credentials that could reach matching systems at a moment",
        description=(
            "Rebuilt from the audit trail (each event's before/after), not from today's "
            "rows: which credentials could reach the system (or any system classified at "
            "least `min_classification`, or holding citizen records) at `at`, under which "
            "contracts, and what happened after: revocation requested, revoked (verified or "
            "confirmed by a person), used after. `evidence_seqs` names the events it rests on."
        ),
        parameters=[ExposureQuerySerializer],
        responses=ExposureSerializer,
    )
    def report(self, request):
        query = ExposureQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        report = exposure_at(
            at=params["at"],
            user=request.user,
            system_id=params.get("system"),
            vendor_id=params.get("vendor"),
            min_classification=params.get("min_classification"),
            citizen_records=params["citizen_records"],
        )
        return Response(report.as_dict())
