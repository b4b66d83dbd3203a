"""Writes of the dashboard itself: two-factor enrolment and verification, chain checks."""

from django.db import transaction

from audit.actor import Actor
from audit.models import VerificationRun
from audit.selectors import audit_chain_verify
from audit.services import audit_record, audit_record_standalone
from dashboard.models import SealedTOTPDevice


def _user_target(user):
    return ("auth.user", user.pk, user.get_username())


def otp_device_start(*, user) -> SealedTOTPDevice:
    """The user's unconfirmed TOTP device, created on first use (no audit: nothing granted)."""
    device = SealedTOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = SealedTOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False
        )
    return device


def otp_device_confirm(*, actor: Actor, device: SealedTOTPDevice, token: str) -> bool:
    """Confirm enrolment when ``token`` matches; audit success and failure alike."""
    ok = device.verify_is_allowed()[0] and device.verify_token(token)
    with transaction.atomic():
        if ok:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        audit_record(
            actor=actor,
            action="auth.otp_enrolled" if ok else "auth.otp_failed",
            target=_user_target(device.user),
            after={"device": device.persistent_id, "step": "enrolment"},
        )
    return ok


def otp_verification_record(*, actor: Actor, user, device=None) -> None:
    """Audit one second-factor check: ``device`` is the matching device, or None on failure."""
    audit_record_standalone(
        actor=actor,
        action="auth.otp_verified" if device else "auth.otp_failed",
        target=_user_target(user),
        after={"device": device.persistent_id if device else None, "step": "verification"},
    )


def audit_chain_check(*, actor: Actor) -> VerificationRun:
    """Recompute the audit chain now, store the result and audit who asked."""
    report = audit_chain_verify()
    with transaction.atomic():
        run = VerificationRun.objects.create(
            ok=report.ok,
            events_checked=report.events_checked,
            first_bad_seq=report.first_bad_seq,
            message=report.message,
        )
        audit_record(
            actor=actor,
            action="audit.chain_verified",
            target=("audit.verificationrun", run.pk, str(run)),
            after={
                "ok": report.ok,
                "events_checked": report.events_checked,
                "first_bad_seq": report.first_bad_seq,
            },
        )
    return run
