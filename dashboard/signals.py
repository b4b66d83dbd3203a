"""Lockouts by django-axes go into the audit trail (logins themselves: audit.signals);
every failed sign-in counts against its address (config.auth_throttle)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from audit.actor import Actor, client_ip
from audit.models import ActorType
from audit.services import audit_record_standalone
from config.auth_throttle import auth_failure_record


@receiver(user_login_failed)
def _count_failure(sender, credentials=None, request=None, **kwargs):
    if request is not None:
        auth_failure_record(client_ip(request))


@receiver(user_locked_out)
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    username = str(username or "")[:150]
    audit_record_standalone(
        actor=Actor(
            type=ActorType.ANONYMOUS,
            name=username or "anonymous",
            source_ip=ip_address or (client_ip(request) if request else None),
            request_id=getattr(request, "request_id", "") if request else "",
        ),
        action="auth.locked_out",
        target=("auth.user", "", username),
        after={"ip_address": ip_address},
    )
