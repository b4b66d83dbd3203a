"""Who did something, frozen at the time they did it."""

import ipaddress
import uuid
from dataclasses import dataclass

from django.conf import settings

from audit.models import ActorType


@dataclass(frozen=True)
class Actor:
    """The author of a change, passed explicitly to every service."""

    type: str
    name: str
    id: str = ""
    source_ip: str | None = None
    request_id: str = ""
    user: object | None = None  # the User, when there is one; never serialised

    @classmethod
    def for_user(cls, user, *, source_ip=None, request_id="") -> "Actor":
        return cls(
            type=ActorType.USER,
            id=str(user.pk),
            name=user.get_username(),
            source_ip=source_ip,
            request_id=request_id,
            user=user,
        )

    @classmethod
    def from_request(cls, request) -> "Actor":
        user = getattr(request, "user", None)
        ip = client_ip(request)
        request_id = getattr(request, "request_id", "")
        token = getattr(request, "auth_token", None)
        if token is not None and user is not None:  # a token always authenticates a user
            return cls(
                type=ActorType.TOKEN,
                id=str(token.pk),
                name=f"{user.get_username()} (token {token.prefix})",
                source_ip=ip,
                request_id=request_id,
                user=user,
            )
        if user is not None and user.is_authenticated:
            return cls.for_user(user, source_ip=ip, request_id=request_id)
        return cls(type=ActorType.ANONYMOUS, name="anonymous", source_ip=ip, request_id=request_id)

    @classmethod
    def system(cls, worker: str = "worker") -> "Actor":
        return cls(type=ActorType.SYSTEM, name=f"system:{worker}", request_id=uuid.uuid4().hex)


def _trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(proxy, strict=False)
        for proxy in settings.SUNDOWN_TRUSTED_PROXIES
    )


def client_ip(request) -> str | None:
    """Source address: X-Forwarded-For is read only when the request comes from a
    configured proxy, right to left, up to the first hop no trusted proxy added."""
    remote = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not (remote and forwarded and _trusted_proxy(remote)):
        return remote
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    while hops:
        hop = hops.pop()
        if not _trusted_proxy(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # not an address: the proxy did not write it
    return remote
