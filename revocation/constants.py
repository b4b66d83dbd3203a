"""Values the revocation services and selectors share, kept apart so reads never import writes."""

from access.models import Credential

# The states a new revocation request may start from: a failed credential may be
# requested again; pending and revoked ones are already on their way or done.
REVOCABLE = (Credential.Status.ACTIVE, Credential.Status.FAILED)

# Days before a contract's access ends that its expiry notices go out.
NOTICE_DAYS = (30, 7, 1)
