"""Serializers: input shape and output representation only, one module per resource.

Every rule about what may change lives in the services, which the views call; the
only checks here are types, lengths, choices, and that related objects are ones the
user may write to (anything else "does not exist"). The names are re-exported here,
so ``from api.serializers import X`` and ``serializers.X`` work as before.
"""

from api.serializers.audit import AuditEventSerializer
from api.serializers.base import (
    CANNOT_CHANGE,
    EMAIL_PATTERN,
    Email,
    JsonString,
    MultiLineText,
    PlainEmailValidator,
    ReasonSerializer,
    ScopedPrimaryKeyRelatedField,
    ServiceModelSerializer,
    Text,
)
from api.serializers.errors import ErrorDetailSerializer, ErrorSerializer
from api.serializers.findings import (
    FindingAdoptSerializer,
    FindingSerializer,
    ReconciliationRunSerializer,
)
from api.serializers.inventory import ConfigField, CredentialSerializer, SystemSerializer
from api.serializers.revocation import (
    KillSwitchResultSerializer,
    ManualTaskCompleteSerializer,
    ManualTaskSerializer,
    RevocationAttemptSerializer,
)
from api.serializers.vendors import (
    AgencySerializer,
    ContractSerializer,
    ContractTerminateSerializer,
    VendorSerializer,
)

__all__ = [
    "CANNOT_CHANGE",
    "EMAIL_PATTERN",
    "AgencySerializer",
    "AuditEventSerializer",
    "ConfigField",
    "ContractSerializer",
    "ContractTerminateSerializer",
    "CredentialSerializer",
    "Email",
    "ErrorDetailSerializer",
    "ErrorSerializer",
    "FindingAdoptSerializer",
    "FindingSerializer",
    "JsonString",
    "KillSwitchResultSerializer",
    "ManualTaskCompleteSerializer",
    "ManualTaskSerializer",
    "MultiLineText",
    "PlainEmailValidator",
    "ReasonSerializer",
    "ReconciliationRunSerializer",
    "RevocationAttemptSerializer",
    "ScopedPrimaryKeyRelatedField",
    "ServiceModelSerializer",
    "SystemSerializer",
    "Text",
    "VendorSerializer",
]
