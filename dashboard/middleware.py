from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

from api.exceptions import error_body
from dashboard.access_control import otp_required
from sso.mfa import idp_mfa_satisfies

# Pages a signed-in but not yet verified officer may still reach.
_EXEMPT_URL_NAMES = {"login", "logout", "otp_setup", "otp_verify", "oidc_start", "oidc_callback"}


class RequireOTPMiddleware:
    """Send security officers to TOTP enrolment or verification before anything else.

    Enforced here rather than per view so that no page, the admin included, can be
    reached with a password alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match and match.url_name in _EXEMPT_URL_NAMES:
            return None
        if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return None
        if not otp_required(request):
            return None
        if idp_mfa_satisfies(request):
            # The IdP's MFA claim, where every agency concerned accepts it (sso.mfa).
            return None
        if request.path.startswith("/api/"):
            # An API client using the browser session gets the API's error shape, not a
            # redirect it cannot follow; the session still does not count without TOTP.
            message = "Verify your second factor in the dashboard first, or use an API token."
            return JsonResponse(error_body(403, "otp_required", message), status=403)
        target = "otp_verify" if user_has_device(user, confirmed=True) else "otp_setup"
        url = f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}"
        if getattr(request, "htmx", False):
            return HttpResponse(status=204, headers={"HX-Redirect": url})
        return redirect(url)
