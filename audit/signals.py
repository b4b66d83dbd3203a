"""Sign-ins, failed sign-ins and sign-outs go into the audit trail."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.actor import Actor, client_ip
from audit.models import ActorType
from audit.services import audit_record_standalone


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record_standalone(
        actor=Actor.from_request(request) if request else Actor.for_user(user),
        action="auth.login",
        target=("auth.user", user.pk, user.get_username()),
    )


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    audit_record_standalone(
        actor=Actor.for_user(
            user,
            source_ip=client_ip(request) if request else None,
            request_id=getattr(request, "request_id", ""),
        ),
        action="auth.logout",
        target=("auth.user", user.pk, user.get_username()),
    )


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the username is kept; never the password the person typed.
    username = str(credentials.get("username", ""))[:150]
    audit_record_standalone(
        actor=Actor(
            type=ActorType.ANONYMOUS,
            name=username or "anonymous",
            source_ip=client_ip(request) if request else None,
            request_id=getattr(request, "request_id", "") if request else "",
        ),
        action="auth.login_failed",
        target=("auth.user", "", username),
    )
