"""Whether the identity provider's second factor stands in for Sundown's TOTP check."""

from vendors import permissions

# Session key set at an SSO sign-in whose ID token reported MFA (see sso.views).
SESSION_IDP_MFA = "sundown_idp_mfa"


def idp_mfa_accepted_for(user) -> bool:
    """True when every agency in which ``user`` may revoke accepts the IdP's MFA.

    One session covers all of the user's agencies, so the strictest agency decides.
    """
    return (
        not permissions.agencies_for(user, permissions.REVOKE).filter(trust_idp_mfa=False).exists()
    )


def idp_mfa_satisfies(request) -> bool:
    """For RequireOTPMiddleware: this session's sign-in carried MFA the agencies accept.

    Read on every request, so an agency that stops accepting it takes effect at once.
    """
    if not request.session.get(SESSION_IDP_MFA):
        return False
    return idp_mfa_accepted_for(request.user)
