from django.urls import path

from dashboard.views import (
    attestations,
    attribution,
    audit,
    auth,
    contracts,
    evidence,
    exposure,
    findings,
    home,
    inventory,
    queue,
    reviews,
    systems,
    vendors,
)

urlpatterns = [
    path("", home.home, name="home"),
    path("account/two-factor/setup/", auth.otp_setup, name="otp_setup"),
    path("account/two-factor/verify/", auth.otp_verify, name="otp_verify"),
    path("vendors/", vendors.vendor_list, name="vendor_list"),
    path("vendors/new/", vendors.vendor_create_view, name="vendor_create"),
    path("vendors/<int:pk>/", vendors.vendor_detail, name="vendor_detail"),
    path(
        "vendors/<int:pk>/attribution/",
        attribution.vendor_attribution,
        name="vendor_attribution",
    ),
    path(
        "vendors/<int:pk>/patterns/<int:pattern_id>/remove/",
        attribution.vendor_pattern_remove,
        name="vendor_pattern_remove",
    ),
    path(
        "vendors/<int:pk>/networks/<int:network_id>/remove/",
        attribution.vendor_network_remove,
        name="vendor_network_remove",
    ),
    path(
        "vendors/<int:pk>/evidence-pack/",
        evidence.vendor_evidence_pack,
        name="vendor_evidence_pack",
    ),
    path(
        "contracts/<int:pk>/evidence-pack/",
        evidence.contract_evidence_pack,
        name="contract_evidence_pack",
    ),
    path(
        "vendors/<int:pk>/kill-switch/", vendors.vendor_kill_switch_view, name="vendor_kill_switch"
    ),
    path("contracts/", contracts.contract_list, name="contract_list"),
    path("contracts/new/", contracts.contract_create_view, name="contract_create"),
    path("contracts/import/", contracts.contract_import_view, name="contract_import"),
    path("contracts/<int:pk>/", contracts.contract_detail, name="contract_detail"),
    path(
        "contracts/<int:pk>/end-date/", contracts.contract_end_date_view, name="contract_end_date"
    ),
    path(
        "contracts/<int:pk>/terminate/",
        contracts.contract_terminate_view,
        name="contract_terminate",
    ),
    path("systems/", inventory.system_list, name="system_list"),
    path("systems/new/", systems.system_create_view, name="system_create"),
    path("systems/<int:pk>/", inventory.system_detail, name="system_detail"),
    path("systems/<int:pk>/edit/", systems.system_edit_view, name="system_edit"),
    path("systems/<int:pk>/test/", systems.system_test_view, name="system_test"),
    path("systems/<int:pk>/lifecycle/", systems.system_lifecycle_view, name="system_lifecycle"),
    path("systems/<int:pk>/reconcile/", findings.system_reconcile_view, name="system_reconcile"),
    path(
        "systems/<int:pk>/reconcile/status/",
        inventory.system_reconcile_status,
        name="system_reconcile_status",
    ),
    path("credentials/new/", inventory.credential_register_view, name="credential_register"),
    path(
        "credentials/contract-picker/",
        inventory.credential_contract_picker,
        name="credential_contract_picker",
    ),
    path("credentials/<int:pk>/", inventory.credential_detail, name="credential_detail"),
    path("credentials/<int:pk>/edit/", inventory.credential_edit_view, name="credential_edit"),
    path("credentials/<int:pk>/status/", inventory.credential_status, name="credential_status"),
    path(
        "credentials/<int:pk>/revoke/", inventory.credential_revoke_view, name="credential_revoke"
    ),
    path("findings/", findings.finding_list, name="finding_list"),
    path("findings/<int:pk>/", findings.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/triage/", findings.finding_triage_view, name="finding_triage"),
    path("findings/<int:pk>/adopt/", findings.finding_adopt_view, name="finding_adopt"),
    path("reviews/", reviews.review_queue, name="review_queue"),
    path("reviews/attestations/", attestations.attestation_list, name="attestation_list"),
    path(
        "reviews/attestations/<int:pk>/send/",
        attestations.attestation_send_view,
        name="attestation_send",
    ),
    path(
        "reviews/attestations/<int:pk>/contact/",
        attestations.security_contact_view,
        name="attestation_contact",
    ),
    path("reviews/decide/", reviews.review_decide_view, name="review_decide"),
    path("reviews/campaigns/", reviews.campaign_list, name="review_campaigns"),
    path("reviews/campaigns/new/", reviews.campaign_open_view, name="review_campaign_open"),
    path("reviews/schedules/new/", reviews.schedule_create_view, name="review_schedule_create"),
    path("reviews/campaigns/<int:pk>/", reviews.campaign_detail, name="review_campaign"),
    path(
        "reviews/campaigns/<int:pk>/reassign/",
        reviews.campaign_reassign_view,
        name="review_campaign_reassign",
    ),
    path(
        "reviews/campaigns/<int:pk>/close/",
        reviews.campaign_close_view,
        name="review_campaign_close",
    ),
    path("revocations/", queue.revocation_queue, name="revocation_queue"),
    path(
        "revocations/tasks/<int:pk>/complete/",
        queue.manual_task_complete_view,
        name="manual_task_complete",
    ),
    path("audit/", audit.audit_log, name="audit_log"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
    path("audit/verify/", audit.audit_verify_view, name="audit_verify"),
    path("audit/exposure/", exposure.audit_exposure, name="audit_exposure"),
]
