"""Target systems and the credentials vendors hold on them."""

from django.db import connection
from django.db.models import Manager
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from access.models import Credential, System
from api.serializers.base import JsonString, ScopedPrimaryKeyRelatedField, ServiceModelSerializer
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import MANAGE_INVENTORY


class ConfigField(serializers.JSONField):
    """A system's connection settings (api.schema.config_schema says which keys)."""


class TargetStateSerializer(serializers.Serializer):
    """Whether the system's target answers (revocation.services.breaker), read-only."""

    state = serializers.ChoiceField(
        choices=["answering", "unreachable"],
        help_text=(
            '"unreachable" while an outage is open: a batch found the target refusing, '
            "timing out or cutting the call; its credentials wait (none fails for it) and "
            'a probe runs every few seconds. "answering" otherwise.'
        ),
    )
    since = serializers.DateTimeField(
        allow_null=True, help_text="When the open outage began; null when answering."
    )
    last_error = serializers.CharField(
        help_text=(
            "The target's last refusal or timeout, for readers with the audit permission "
            "in the system's agency; a neutral label for everyone else; empty when answering."
        )
    )
    next_probe_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next probe is due; null when answering."
    )
    failed_probes = serializers.IntegerField(help_text="Probes of this outage that failed.")
    credentials_waiting = serializers.IntegerField(
        help_text="The system's pending credentials: they go as soon as a probe passes."
    )

    def to_representation(self, instance):
        from revocation.models import TargetState
        from revocation.selectors import connector_error_readers, outage_of

        try:
            state = instance.target_state
        except TargetState.DoesNotExist:
            state = None
        if state is None or state.outage_since is None:
            return {
                "state": "answering",
                "since": None,
                "last_error": "",
                "next_probe_at": None,
                "failed_probes": 0,
                "credentials_waiting": 0,
            }
        # Once per response, not per row: a list's rows share the root serializer.
        readers = getattr(self.root, "_connector_error_readers", None)
        if readers is None:
            request = self.context.get("request")
            readers = connector_error_readers(getattr(request, "user", None))
            self.root._connector_error_readers = readers  # type: ignore[attr-defined]
        waiting = instance.credentials.filter(status=Credential.Status.PENDING).count()
        outage = outage_of(instance, readers=readers, waiting=waiting)
        return {
            "state": "unreachable",
            "since": serializers.DateTimeField().to_representation(outage.since),
            "last_error": outage.error,
            "next_probe_at": (
                serializers.DateTimeField().to_representation(outage.next_probe_at)
                if outage.next_probe_at
                else None
            ),
            "failed_probes": outage.failed_probes,
            "credentials_waiting": outage.waiting,
        }


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
    tls_verify = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text=(
            "false when this system's TLS certificate and host-name checks are switched off "
            "(config tls_verify: false); null for kinds without that setting."
        ),
    )
    demo_label = serializers.CharField(
        read_only=True,
        help_text=(
            '"demo: host does not exist" for a system that points at a name under .invalid '
            "(the demo data's placeholders: its revocations fail at once, by design); "
            "empty otherwise."
        ),
    )
    target_state = TargetStateSerializer(
        source="*",
        read_only=True,
        help_text="Whether the target answers; an open outage with its last error.",
    )

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
            "tls_verify",
            "demo_label",
            "target_state",
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


# DRF's own rendering of a datetime (the current zone, "Z" for UTC), reused as is.
_DATETIME = serializers.DateTimeField(read_only=True)
_CREDENTIAL_TIMES = (
    "last_seen_on_target_at",
    "target_checked_at",
    "issued_at",
    "expires_at",
    "last_used_at",
    "revocation_requested_at",
)


def _datetime_writer():
    """DRF's rendering of an aware datetime with the current zone read once per page, not
    once per value (eight per row); anything but the ISO 8601 output of an aware value
    goes to DRF itself."""
    slow = _DATETIME.to_representation
    zone = _DATETIME.default_timezone()
    if zone is None or getattr(_DATETIME, "format", api_settings.DATETIME_FORMAT) != ISO_8601:
        return slow

    def when(value):
        if value.utcoffset() is None:
            return slow(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return slow(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return when


def _contract_ids(credentials: list[Credential]) -> dict[int, list[int]]:
    """Each credential's contract ids: from a prefetch when there is one, else one read of
    the link table for the whole page (ids only, in id order). Django's prefetch of the
    same ids built a Contract and a related manager per row, a fifth of the list's time;
    the read is plain SQL because building it through the ORM cost more than running it."""
    ids: dict[int, list[int]] = {}
    unread = []
    for c in credentials:
        cached = getattr(c, "_prefetched_objects_cache", {}).get("contracts")
        if cached is not None:
            ids[c.pk] = [contract.pk for contract in cached]
        else:
            ids[c.pk] = []
            unread.append(c.pk)
    if unread:
        links = Credential.contracts.through._meta
        credential = links.get_field("credential").column
        contract = links.get_field("contract").column
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {credential}, {contract} FROM {links.db_table} "
                f"WHERE {credential} IN ({', '.join(['%s'] * len(unread))}) ORDER BY 1, 2",
                unread,
            )
            for credential_id, contract_id in cursor.fetchall():
                ids[credential_id].append(contract_id)
    return ids


class CredentialListSerializer(serializers.ListSerializer):
    """A page of credentials written straight from the rows: the same keys and values
    as ``CredentialSerializer`` gives each (tests/api/test_credential_rows.py holds the
    two equal), without DRF's per-field machinery, which was a third of the list
    endpoint's time (bench/api.py). The schema comes from the item serializer."""

    def to_representation(self, data):
        credentials = list(data.all() if isinstance(data, Manager) else data)
        contracts = _contract_ids(credentials)
        when = _datetime_writer()
        rows = []
        for c in credentials:
            row = {
                "id": c.pk,
                "vendor": c.vendor_id,
                "system": c.system_id,
                "contracts": contracts[c.pk],
                "kind": c.kind,
                "external_id": c.external_id,
                "holder": c.holder,
                "privileges": c.privileges,
                "status": c.status,
                "status_label": c.status_label,
            }
            for name in _CREDENTIAL_TIMES:
                value = getattr(c, name)
                row[name] = when(value) if value is not None else None
            row["revocation_reason"] = c.revocation_reason
            row["revoked_at"] = when(c.revoked_at) if c.revoked_at is not None else None
            row["revoked_by"] = c.revoked_by
            row["created_at"] = when(c.created_at)
            row["updated_at"] = when(c.updated_at)
            rows.append(row)
        return rows


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
        list_serializer_class = CredentialListSerializer
