"""API views: thin, one module per resource. Reads through the apps' selectors (all via
``restrict``), writes and verbs through the services. The names are re-exported here, so
api/urls.py and ``views.X`` work as before; a new resource gets a module of its own."""

from api.views.audit import AuditEventViewSet
from api.views.findings import FindingViewSet, ReconciliationRunViewSet
from api.views.inventory import CredentialViewSet, SystemViewSet
from api.views.pages import ApiDocsView, not_found
from api.views.revocation import ManualTaskViewSet, RevocationAttemptViewSet
from api.views.vendors import AgencyViewSet, ContractViewSet, VendorViewSet

__all__ = [
    "AgencyViewSet",
    "ApiDocsView",
    "AuditEventViewSet",
    "ContractViewSet",
    "CredentialViewSet",
    "FindingViewSet",
    "ManualTaskViewSet",
    "ReconciliationRunViewSet",
    "RevocationAttemptViewSet",
    "SystemViewSet",
    "VendorViewSet",
    "not_found",
]
