"""Authentication backends: password sign-in under a policy, and sessions begun by the IdP."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from sso.config import local_login_policy


class LocalPasswordBackend(ModelBackend):
    """Django's password check, refused when ``SUNDOWN_LOCAL_LOGIN`` does not allow the user.

    ``superusers`` keeps password sign-in as the break-glass path for administrators when
    the identity provider is down; ``none`` turns it off. PermissionDenied (rather than
    None) stops the other backends and is reported as a failed sign-in, which is audited.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        policy = local_login_policy()
        if policy == "all" or (policy == "superusers" and user.is_superuser):
            return user
        raise PermissionDenied("Password sign-in is turned off for this account.")


class OidcBackend(ModelBackend):
    """Holds the sessions of users signed in by sso.views; authenticates nothing itself."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None
