"""Mail from the batch: failures to security staff, hand-offs to a manual system's owner.

Both are sent after commit and never raise: the manual tasks and audit rows exist
by then, and a mail outage is logged rather than undoing them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from access.models import Credential, System
from config.text import one_line
from revocation.services.common import owner_user_email
from vendors.permissions import REVOKE

logger = logging.getLogger(__name__)


def mail_addresses(addresses) -> list[str]:
    """Distinct addresses fit for a header; one bad one must not stop the mail to the rest."""
    good = set()
    for address in addresses:
        if not address:
            continue
        if one_line(address, limit=320) != address or "," in address:
            logger.error("skipping a mail address with control characters: %r", address)
            continue
        good.add(address)
    return sorted(good)


def security_alert_recipients(system: System) -> list[str]:
    """Configured alert addresses, the agency's security officers and the system owner."""
    from guardian.shortcuts import get_users_with_perms

    recipients = list(settings.SUNDOWN_SECURITY_ALERT_EMAILS)
    officers = get_users_with_perms(
        system.agency, only_with_perms_in=[REVOKE.split(".", 1)[1]], with_group_users=False
    )
    # get_users_with_perms returns users here (with_group_users=False, no attach_perms).
    recipients += [u.email for u in officers if u.email and u.is_active]  # type: ignore[union-attr]
    for owner in (system.owner_email, owner_user_email(system)):
        if owner:
            recipients.append(owner)
    return mail_addresses(recipients)


def alert_failed(system: System, rows: list[Credential], errors: dict[int, str]) -> None:
    """Tell security staff which credentials could not be revoked and are still live."""
    try:
        recipients = security_alert_recipients(system)
        if not recipients:
            logger.error("revocation failed on %s but nobody is configured to be alerted", system)
            return
        send_mail(
            subject=one_line(
                f"[Sundown] Revocation FAILED on {system.name}: {len(rows)} credential(s)"
            ),
            message=render_to_string(
                "revocation/mail/revocation_failed.txt",
                {
                    "system": system,
                    "failures": [{"credential": row, "error": errors[row.pk]} for row in rows],
                },
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the manual task and audit rows exist; a mail outage is logged
        logger.exception("could not send the revocation failure alert for %s", system)


def notify_owner(system: System, rows: list[Credential]) -> None:
    """Tell the owner of a manual system what to revoke by hand."""
    recipients = mail_addresses([system.owner_email, owner_user_email(system)])
    if not recipients:
        logger.warning("manual tasks opened on %s, which has no owner to tell", system)
        return
    try:
        send_mail(
            subject=one_line(
                f"[Sundown] Revoke by hand on {system.name}: {len(rows)} credential(s)"
            ),
            message=render_to_string(
                "revocation/mail/revoke_by_hand.txt", {"system": system, "credentials": rows}
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the tasks and their audit rows exist; a mail outage is logged
        logger.exception("could not tell the owner of %s about manual tasks", system)
