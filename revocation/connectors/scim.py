"""SCIM 2.0 users (RFC 7643/7644), through scim2-client over httpx2.

``system.config``: ``url`` (the service's base, e.g. ``https://idp.example/scim/v2``),
``timeout`` (seconds, 10: to connect, to send, and for each read of a response; a
service that stops answering fails the call there, and a one-by-one batch stops at the
first such failure instead of waiting it out per user), ``on_revoke``:
``"deactivate"`` (default, PATCH ``active=false``: the account and its history stay)
or ``"delete"``. The system
secret, when set, is sent as a bearer token. A credential's ``external_id`` is
the SCIM ``id`` of the user.

Batches go in one bulk request when the service announces bulk support (split
at its ``maxOperations``), else one request per user; the verify read is one
filtered query (``id eq ... or id eq ...``) per chunk. Endpoints the service
announces as full paths (``/scim/v2/Users``) or URLs are taken relative to ``url``. A
deactivation whose path form (``"path": "active"``) is refused with 400 is sent again
in the value form (``"value": {"active": false}``). Errors name scim2-client's cause
(a field the response lacks, say). Sessions belong to the
applications behind the service: deactivating the user is what SCIM offers to
end them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlsplit

import httpx2
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_client.errors import RequestNetworkException, UnexpectedStatusCodeException
from scim2_models import (
    BulkOperation,
    BulkRequest,
    NotFoundException,
    PatchOp,
    PatchOperation,
    SCIMException,
    SearchRequest,
    User,
)

from access.destinations import url_destination
from access.models import Credential
from revocation.connectors.meta.scim import META

from .base import Account, Connector, ConnectorError

DEACTIVATE, DELETE = "deactivate", "delete"
# Keeps each filtered query's URL short; RFC 7644 sets no limit, servers do.
_FILTER_CHUNK = 50
_PAGE = 200
_NOT_FOUND = 404
_SEGMENT_SAFE = "!$&'()*+,;=:@"  # RFC 3986 pchar minus unreserved (never encoded)
_CAUSE_MAX = 300  # the cause goes into a manual task's message: the gist, not a dump
_BAD_REQUEST = 400


def _transient_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def relative_endpoint(base_url: str, endpoint: str | None) -> str | None:
    """A resource type's endpoint as a path under ``base_url``.

    RFC 7643 §6 has endpoints relative to the base (``/Users``), but services also
    announce the full path (``/scim/v2/Users``) or URL; joined to a base that already
    holds ``/scim/v2`` those would address ``/scim/v2/scim/v2/Users``.
    """
    if not endpoint:
        return endpoint
    base, parts = urlsplit(base_url), urlsplit(endpoint)
    if parts.netloc and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return endpoint  # another host: left for scim2-client to refuse
    prefix = base.path.rstrip("/")
    path = parts.path
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :]
    return "/" + path.lstrip("/")


def _cause(exc: BaseException) -> str:
    """The library's reason, which scim2-client keeps in notes or the chained cause."""
    texts = list(getattr(exc, "__notes__", None) or [])
    if not texts and exc.__cause__ is not None and str(exc.__cause__) != str(exc):
        texts = [str(exc.__cause__)]
    # pydantic's messages span lines and end in a documentation link: one line, no link.
    lines = [
        line.strip()
        for text in texts
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("For further information")
    ]
    text = "; ".join(lines)
    return text if len(text) <= _CAUSE_MAX else text[: _CAUSE_MAX - 1] + "…"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SCIMConnector(Connector):
    """Deactivates or deletes SCIM users, in bulk where the service allows it."""

    config_keys = META.config_keys
    destination_keys = frozenset({"url"})
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        if not config.get("url"):
            return []
        return [url_destination(config["url"], {"https": 443, "http": 80})]

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (DEACTIVATE, DELETE))
        if not self.config.get("url"):
            raise ConnectorError("SCIM systems need a url", permanent=True)
        self._http: httpx2.Client | None = None
        self._scim: SyncSCIMClient | None = None

    # Connection ------------------------------------------------------------
    @property
    def scim(self) -> SyncSCIMClient:
        if self._scim is None:
            self.checked_destinations()
            token = self.system.get_secret()
            self._http = httpx2.Client(
                base_url=self.config["url"].rstrip("/"),
                headers={"Authorization": f"Bearer {token}"} if token else {},
                timeout=float(self.config.get("timeout", 10)),
            )
            client = SyncSCIMClient(self._http)
            # Reads /ServiceProviderConfig, /ResourceTypes and /Schemas once per
            # batch: it tells whether bulk and filters are offered.
            try:
                self._call(client.discover)
            except ConnectorError as exc:
                # The log gets the library's cause; the message stays "could not connect".
                raise self.connect_failed(exc, permanent=exc.permanent) from exc
            for resource_type in client.provider.resource_types:
                # Reference[URI] is a str on the wire and in memory; its type is narrower.
                resource_type.endpoint = relative_endpoint(  # type: ignore[assignment]
                    self.config["url"], resource_type.endpoint
                )
            self._scim = client
        return self._scim

    def probe(self) -> None:
        _ = self.scim  # reads the service's discovery documents with our token

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._http = self._scim = None

    @staticmethod
    def _status(exc: Exception) -> int:
        return int(getattr(exc, "status", None) or getattr(exc, "status_code", None) or 0)

    def _error(self, exc: Exception) -> ConnectorError:
        if isinstance(exc, RequestNetworkException):
            return self.connect_failed(exc)
        status = self._status(exc)
        cause = _cause(exc)
        message = f"{exc} ({cause})" if cause else str(exc)
        if isinstance(exc, SCIMException | UnexpectedStatusCodeException) and _transient_status(
            status
        ):
            return ConnectorError(f"SCIM service failed ({status}): {message}")
        # 401/403 (token refused), 400 (not supported), a response that breaks the RFC, ...
        return ConnectorError(
            f"SCIM service refused ({status or 'invalid'}): {message}", permanent=True
        )

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (SCIMClientException, SCIMException) as exc:
            raise self._error(exc) from exc

    @property
    def _bulk_size(self) -> int:
        bulk = self.scim.provider.config.bulk if self.scim.provider.config else None
        return int(bulk.max_operations or 0) if bulk and bulk.supported else 0

    @property
    def _filter_chunk(self) -> int:
        """Ids per filtered read; 0 when the service offers no filtering."""
        config = self.scim.provider.config
        if not (config and config.filter and config.filter.supported):
            return 0
        return min(_FILTER_CHUNK, int(config.filter.max_results or _FILTER_CHUNK))

    @staticmethod
    def _deactivation(value_form: bool = False) -> PatchOp[User]:
        # scim2-models (pydantic) parses the path string and accepts field names as well as
        # the wire aliases ("Operations"); its generated signatures show only the latter.
        # The value form (no path, RFC 7644 §3.5.2.3) is for services that refuse paths.
        operation: PatchOperation[User] = (
            PatchOperation(op=PatchOperation.Op.replace_, value={"active": False})
            if value_form
            else PatchOperation(
                op=PatchOperation.Op.replace_,
                path="active",  # type: ignore[arg-type]
                value=False,
            )
        )
        return PatchOp[User](operations=[operation])  # type: ignore[call-arg]

    def _deactivate(self, external_id: str) -> None:
        try:
            self.scim.modify(User, external_id, self._deactivation())
        except SCIMException as exc:
            if self._status(exc) != _BAD_REQUEST:
                raise
            # Refused as a request (noTarget, invalidPath, ...): some services only
            # take the value form. Its own refusal is the one reported.
            self.scim.modify(User, external_id, self._deactivation(value_form=True))

    # Writes ----------------------------------------------------------------
    def revoke(self, credential: Credential) -> None:
        try:
            if self.on_revoke == DELETE:
                self.scim.delete(User, credential.external_id)
            else:
                self._deactivate(credential.external_id)
        except NotFoundException:
            return  # already gone
        except (SCIMClientException, SCIMException) as exc:
            raise self._error(exc) from exc

    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        credentials = list(credentials)
        size = self._bulk_size
        if len(credentials) < 2 or not size:
            return super().revoke_many(credentials)
        results: dict[int, ConnectorError | None] = {}
        for i in range(0, len(credentials), size):
            results.update(self._bulk(credentials[i : i + size]))
        return results

    def _bulk(self, credentials: list[Credential]) -> dict[int, ConnectorError | None]:
        operations = []
        for credential in credentials:
            # Encoded as one path segment, as scim2-client does for single calls: an
            # id holding "/" or ".." must not address some other resource.
            path = f"/Users/{quote(credential.external_id, safe=_SEGMENT_SAFE)}"
            if self.on_revoke == DELETE:
                operations.append(
                    BulkOperation[User](method=BulkOperation.Method.delete, path=path)
                )
            else:
                operations.append(
                    BulkOperation[User](
                        method=BulkOperation.Method.patch, path=path, data=self._deactivation()
                    )
                )
        request = BulkRequest[User](operations=operations)  # type: ignore[call-arg]
        response = self._call(self.scim.bulk, request)
        answers = response.operations or []
        if len(answers) != len(credentials):
            # RFC 7644 §3.7.3: one answer per operation unless failOnErrors stopped it.
            raise ConnectorError(
                f"SCIM bulk answered {len(answers)} of {len(credentials)} operations"
            )
        results: dict[int, ConnectorError | None] = {}
        for credential, answer in zip(credentials, answers, strict=True):
            status = int(answer.status or 0)
            if 200 <= status < 300 or status == _NOT_FOUND:
                results[credential.pk] = None  # done, or already gone
            else:
                detail = answer.response.detail if answer.response else ""
                results[credential.pk] = ConnectorError(
                    f"SCIM bulk operation on {credential.external_id} failed ({status}): {detail}",
                    permanent=not _transient_status(status),
                )
        return results

    # Reads -----------------------------------------------------------------
    def _usable(self, user) -> bool:
        # After a delete, existing at all is too much; otherwise active=false is the goal.
        return self.on_revoke == DELETE or user.active is not False

    def is_active(self, credential: Credential) -> bool:
        try:
            user = self.scim.query(User, credential.external_id)
        except NotFoundException:
            return False
        except (SCIMClientException, SCIMException) as exc:
            raise self._error(exc) from exc
        return self._usable(user)

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        size = self._filter_chunk if len(credentials) > 1 else 0
        if not size:
            return super().still_active(credentials)
        active: set[int] = set()
        for i in range(0, len(credentials), size):
            chunk = credentials[i : i + size]
            flt = " or ".join(f"id eq {_quoted(c.external_id)}" for c in chunk)
            found = self._call(
                self.scim.query,
                User,
                # Parsed by pydantic into a ScimFilter.
                query_parameters=SearchRequest(filter=flt, count=len(chunk)),  # type: ignore[arg-type]
            )
            users = found.resources or []
            if int(found.total_results or 0) > len(users):
                # A server that answers fewer users than matched (its own page
                # limit) would leave the rest looking gone: read those one by one.
                active |= super().still_active(chunk)
                continue
            usable_ids = {u.id for u in users if self._usable(u)}
            active |= {c.pk for c in chunk if c.external_id in usable_ids}
        return active

    def list_accounts(self) -> list[Account]:
        accounts: list[Account] = []
        start = 1
        while True:
            page = self._call(
                self.scim.query,
                User,
                query_parameters=SearchRequest(start_index=start, count=_PAGE),
            )
            users = page.resources or []
            accounts += [
                Account(
                    external_id=u.id,
                    active=u.active is not False,
                    detail=u.user_name or "",
                    email=_primary_email(u),
                    groups=tuple(
                        str(g.display or g.value) for g in (u.groups or []) if g.display or g.value
                    ),
                )
                for u in users
            ]
            start += len(users)
            if not users or start > int(page.total_results or 0):
                return accounts


def _primary_email(user) -> str:
    """The primary (else the first) e-mail of a SCIM user, for vendor attribution."""
    emails = [e for e in (getattr(user, "emails", None) or []) if getattr(e, "value", None)]
    primary = [e for e in emails if getattr(e, "primary", False)]
    chosen = (primary or emails)[:1]
    return str(chosen[0].value) if chosen else ""
