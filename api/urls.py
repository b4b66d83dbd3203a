from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from api import views, views_evidence
from api.exposure import ExposureViewSet
from api.usage import UsageEventViewSet
from api.views.reviews import ReviewCampaignViewSet, ReviewItemViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("agencies", views.AgencyViewSet, basename="agency")
router.register("vendors", views.VendorViewSet, basename="vendor")
router.register("contracts", views.ContractViewSet, basename="contract")
router.register("systems", views.SystemViewSet, basename="system")
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("revocations", views.RevocationAttemptViewSet, basename="revocation")
router.register("manual-tasks", views.ManualTaskViewSet, basename="manual-task")
router.register("findings", views.FindingViewSet, basename="finding")
router.register(
    "reconciliation-runs", views.ReconciliationRunViewSet, basename="reconciliation-run"
)
router.register("usage-events", UsageEventViewSet, basename="usage-event")
router.register("review-campaigns", ReviewCampaignViewSet, basename="review-campaign")
router.register("review-items", ReviewItemViewSet, basename="review-item")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register(
    "vendor-evidence-packs", views_evidence.VendorEvidencePackViewSet, basename="vendor-evidence"
)
router.register(
    "contract-evidence-packs",
    views_evidence.ContractEvidencePackViewSet,
    basename="contract-evidence",
)

app_name = "api"
urlpatterns = [
    path(
        "v1/exposure/",
        ExposureViewSet.as_view({"get": "report"}, basename="exposure", detail=False),
        name="exposure",
    ),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api:schema"), name="docs"),
    # Anything else under /api/ answers in the API's error format, not Django's HTML page.
    re_path(r"^.*$", views.not_found),
]
