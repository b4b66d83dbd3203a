"""Sign-in pages: the password form (under SUNDOWN_LOCAL_LOGIN) and the OpenID Connect flow."""

from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.actor import Actor
from audit.services import audit_record_standalone
from sso import client, services
from sso.config import local_login_policy, oidc_config
from sso.mfa import SESSION_IDP_MFA

_SESSION_NEXT = "sundown_oidc_next"
_BACKEND = "sso.backends.OidcBackend"

# What the refusal page tells the person, by the reason code the audit trail keeps.
_REFUSALS = {
    services.NO_MAPPED_GROUP: (
        403,
        "Your account at the identity provider is not in any group that has access to "
        "Sundown. Ask your agency's Sundown administrator to add you to the right group.",
    ),
    services.USERNAME_TAKEN: (
        403,
        "A local Sundown account already uses your username, so single sign-on cannot "
        "create yours. Ask an administrator to resolve it.",
    ),
    services.ACCOUNT_DISABLED: (403, "Your Sundown account is disabled."),
    "provider_unreachable": (
        502,
        "The identity provider could not be reached. Try again in a moment.",
    ),
}
_INVALID = (
    400,
    "The identity provider's answer could not be verified, so you are not signed in. "
    "Start again from the sign-in page.",
)


def _safe_next(request, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


class SundownLoginView(LoginView):
    """Django's sign-in form, plus the single sign-on button and the local-login policy."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        config = oidc_config()
        context["oidc_name"] = config.provider_name if config else ""
        context["local_login"] = local_login_policy()
        return context


def _refused(request, reason: str, *, detail: str | None = None):
    """The refusal page. A ``detail`` means the refusal is not audited yet: audit it now
    (refusals decided by services.oidc_sign_in were audited there, with the claims)."""
    if detail is not None:
        audit_record_standalone(
            actor=Actor.from_request(request),
            action="auth.oidc_refused",
            target=("auth.user", "", ""),
            after={"reason": reason, "detail": detail[:500]},
        )
    status, message = _REFUSALS.get(reason, _INVALID)
    return render(
        request,
        "registration/oidc_refused.html",
        {"message": message, "reason": reason},
        status=status,
    )


@never_cache
@require_GET
def oidc_start(request):
    config = oidc_config()
    if config is None:
        raise Http404
    request.session[_SESSION_NEXT] = _safe_next(request, request.GET.get("next", ""))
    try:
        return client.authorize_redirect(
            request, config, request.build_absolute_uri(reverse("oidc_callback"))
        )
    except client.ProviderError as exc:
        return _refused(request, exc.reason, detail=exc.detail)


@never_cache
@require_GET
def oidc_callback(request):
    config = oidc_config()
    if config is None:
        raise Http404
    try:
        claims = client.authorize_callback(request, config)
    except client.ProviderError as exc:
        return _refused(request, exc.reason, detail=exc.detail)
    outcome = services.oidc_sign_in(actor=Actor.from_request(request), config=config, claims=claims)
    if outcome.user is None:
        return _refused(request, outcome.refusal)
    next_url = request.session.pop(_SESSION_NEXT, "") or reverse("home")
    login(request, outcome.user, backend=_BACKEND)
    # After login(), which keeps the session's data but not its key.
    request.session[SESSION_IDP_MFA] = outcome.idp_mfa
    return redirect(next_url)
