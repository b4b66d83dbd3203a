from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp import user_has_device

from api.exceptions import error_body
from config.text import BIDI, BIDI_CONTROLS
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


class DashboardNotFoundMiddleware:
    """A dashboard view's 404 is the dashboard's own page, DEBUG or not.

    The dashboard answers 404 for what a user may not see (an absent page tells an
    outsider nothing), so with DEBUG on (``make run``) Django's technical 404 page would
    show every URL pattern to exactly that user. Unknown URLs never reach a view and keep
    Django's handling; the API and the admin have their own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, Http404):
            return None
        if request.path.startswith(("/api/", "/admin/")):
            return None
        return render(request, "404.html", status=404)


_BIDI_VISIBLE = {ord(ch): f"[U+{ord(ch):04X}]" for ch in BIDI_CONTROLS}


class BidiControlsMiddleware:
    """Show bidirectional control characters in pages as visible code points.

    New text refuses them (config.text), but rows stored before that still hold them,
    and one U+202E in a credential's name makes the kill-switch page show a different
    name from the one being revoked. Done once on the finished page, so no template
    can forget it; JSON and CSV downloads keep the stored text as it is.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
            return response
        charset = response.charset or "utf-8"
        text = response.content.decode(charset, errors="replace")
        if BIDI.search(text):
            response.content = text.translate(_BIDI_VISIBLE).encode(charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
