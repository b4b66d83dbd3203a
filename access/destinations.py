"""Where connectors may connect: the deployment's allowlist of target destinations.

A system's secret goes wherever its config points, so the destination is checked
twice: when the system is saved (access.services, a field error) and by the
connector just before it connects (revocation.connectors.base), because a name can
resolve somewhere else by then.

``SUNDOWN_TARGET_ALLOWLIST`` lists CIDRs (``10.20.0.0/16``) and host names
(``db.agency.example``, or ``*.agency.example`` for a whole domain). Link-local and
cloud metadata addresses are refused whatever it says; loopback only when the list
names a loopback network itself; Sundown's own database, broker and cache
(host and port) are refused unless ``SUNDOWN_TARGET_ALLOW_OWN_SERVICES`` is set.

Messages here name the rule, never whether anything answered at that address.

Local files (the htpasswd connector) are held to ``SUNDOWN_LOCAL_TARGET_ROOTS`` the
same two ways: ``local_path_check`` at save time (the path's text: absolute, plain,
below a root) and ``local_dir_open`` when the connector opens it (one directory at a
time from the root, refusing symbolic links, so a link planted below a root cannot
lead a rewrite to ``/etc/shadow``).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never a target: instance metadata services (AWS/GCP/Azure on 169.254.169.254, AWS's
# IPv6 one, Alibaba's), all of link-local, "this host", multicast and reserved space.
_ALWAYS_REFUSED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "240.0.0.0/4",
    )
)
_LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_OWN_DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "mysql": 3306, "redis": 6379}
_OWN_DEFAULT_PORTS.update(rediss=6379, amqp=5672, amqps=5671)

# Names under .invalid never resolve (RFC 6761 section 6.4): the demo's placeholder
# systems point there, so their failures say what they are instead of "could not connect".
# Such a name is accepted whatever the allowlist says and never connected to.
NEVER_RESOLVES = "invalid"
DEMO_HOST_LABEL = "demo: host does not exist"


def never_resolves(host) -> bool:
    """True for a host name under the reserved ``.invalid`` domain."""
    name = str(host or "").strip().rstrip(".").lower()
    return name == NEVER_RESOLVES or name.endswith("." + NEVER_RESOLVES)


class DestinationRefused(Exception):
    """A destination this deployment does not allow (or cannot be a host at all)."""


class DestinationUnresolved(Exception):
    """A host name that did not resolve: at connect time simply "could not connect"."""


def parse_host(host) -> Address | str:
    """An IP address, or a lower-cased DNS name; anything else (paths, lists) is refused."""
    if not isinstance(host, str) or not host or len(host) > 253:
        raise DestinationRefused("The host must be a host name or an IP address.")
    try:
        return ipaddress.ip_address(host.strip("[]") if host.startswith("[") else host)
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        # Unix socket paths, comma lists (libpq multi-host), spaces, zone ids...
        raise DestinationRefused(f"{host!r} is not a host name or an IP address.")
    return name


def parse_port(port, default: int) -> int:
    value = default if port in (None, "") else port
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DestinationRefused("The port must be a number from 1 to 65535.")
    try:
        number = int(value)
    except ValueError:
        raise DestinationRefused("The port must be a number from 1 to 65535.") from None
    if not 1 <= number <= 65535:
        raise DestinationRefused("The port must be a number from 1 to 65535.")
    return number


def url_destination(url, schemes: dict[str, int]) -> tuple[str, int]:
    """(host, port) of a URL whose scheme is one of ``schemes`` (scheme -> default port)."""
    if not isinstance(url, str) or len(url) > 2000:
        raise DestinationRefused("The url must be text of at most 2000 characters.")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise DestinationRefused(f"The url must start with {allowed}.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused(
            "The url must not carry a user or password; put the secret in 'secret'."
        )
    if not parts.hostname:
        raise DestinationRefused("The url must name a host.")
    try:
        port = parts.port
    except ValueError:
        raise DestinationRefused("The port must be a number from 1 to 65535.") from None
    return parts.hostname, port or schemes[scheme]


RECORD_KEYS = frozenset({"host", "port", "url"})


def recorded_destinations(config: dict) -> list[tuple[str, int]]:
    """``host``/``port`` and ``url`` of a system nothing connects to (manual, ssh, webhook):
    only a record of where it is, held to the same rules in case a connector comes."""
    found = []
    if config.get("host"):
        found.append((config["host"], parse_port(config.get("port"), 22)))
    if config.get("url"):
        found.append(url_destination(config["url"], {"https": 443, "http": 80}))
    return found


def _allowlist() -> tuple[list[Network], list[str]]:
    networks: list[Network] = []
    names: list[str] = []
    for entry in settings.SUNDOWN_TARGET_ALLOWLIST:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(entry)
    return networks, names


def _name_allowed(name: str, names: list[str]) -> bool:
    for entry in names:
        if entry.startswith(("*.", ".")):
            suffix = entry[entry.index(".") :]
            if name.endswith(suffix) and len(name) > len(suffix):
                return True
        elif name == entry.rstrip("."):
            return True
    return False


def _resolve(name: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationUnresolved(f"{name} did not resolve: {exc}") from exc
    addresses = []
    for info in infos:
        host = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(host))
    return addresses


def _own_services() -> list[tuple[str, int]]:
    """(host, port) of the database, broker and cache this deployment itself uses."""
    found: list[tuple[str, int]] = []
    for db in settings.DATABASES.values():
        host, port = db.get("HOST") or "", db.get("PORT") or ""
        engine = str(db.get("ENGINE", ""))
        default = 3306 if "mysql" in engine else 5432
        if host and not host.startswith("/"):
            found.append((host, int(port or default)))
    urls = [str(settings.CELERY_BROKER_URL or "")]
    for cache in settings.CACHES.values():
        location = cache.get("LOCATION")
        urls.extend(location if isinstance(location, list | tuple) else [str(location or "")])
    for url in urls:
        for part in url.split(";"):
            parts = urlsplit(part.strip())
            scheme_port = _OWN_DEFAULT_PORTS.get(parts.scheme.lower())
            if scheme_port and parts.hostname:
                try:
                    found.append((parts.hostname, parts.port or scheme_port))
                except ValueError:
                    continue
    return found


def _is_own_service(address: Address, port: int) -> bool:
    if settings.SUNDOWN_TARGET_ALLOW_OWN_SERVICES:
        return False
    for host, own_port in _own_services():
        if own_port != port:
            continue
        try:
            parsed = parse_host(host)
            own = [parsed] if not isinstance(parsed, str) else _resolve(parsed, port)
        except (DestinationRefused, DestinationUnresolved):
            continue
        if address in own:
            return True
    return False


def _refusal(address: Address, port: int, networks: list[Network], by_name: bool) -> str | None:
    address = getattr(address, "ipv4_mapped", None) or address
    if any(address in network for network in _ALWAYS_REFUSED):
        return "link-local and metadata addresses are never allowed"
    if any(address in network for network in _LOOPBACK):
        # Loopback only where the allowlist names a loopback network itself: a broad
        # entry like 0.0.0.0/0 must not open the services on this machine.
        loopback_listed = any(
            address in network
            and any(
                network.subnet_of(lo)  # type: ignore[arg-type]
                for lo in _LOOPBACK
                if lo.version == network.version
            )
            for network in networks
            if network.version == address.version
        )
        if not loopback_listed:
            return "loopback is not allowed in this deployment"
    elif not by_name and not any(
        address in network for network in networks if network.version == address.version
    ):
        return "not in SUNDOWN_TARGET_ALLOWLIST"
    if _is_own_service(address, port):
        return "it is Sundown's own database, broker or cache"
    return None


def destination_check(host, port: int, *, resolve: bool) -> list[Address]:
    """Refuse ``host:port`` unless this deployment allows it; return the addresses checked.

    ``resolve=False`` (save time) looks nothing up: a host name must be listed by name
    (or domain), so saving a system never waits on DNS nor tells the caller what
    resolves. When connecting (``resolve=True``) every address the name has now is
    checked, and a name not listed passes only if all of them are in listed networks.
    """
    parsed = parse_host(host)
    port = parse_port(port, 0)
    if isinstance(parsed, str) and never_resolves(parsed):
        # A placeholder (the demo's): saved whatever the allowlist says, because nothing
        # ever connects there; connectors refuse it before any lookup.
        if not resolve:
            return []
        raise DestinationRefused(f"{host}: {DEMO_HOST_LABEL} (.invalid never resolves).")
    networks, names = _allowlist()
    if isinstance(parsed, str):
        by_name = _name_allowed(parsed, names)
        if not resolve:
            if by_name:
                return []
            raise DestinationRefused(
                f"{host} is not an allowed destination: list the host name (or its domain) "
                "in SUNDOWN_TARGET_ALLOWLIST."
            )
        addresses = _resolve(parsed, port)
    else:
        by_name, addresses = False, [parsed]
    for address in addresses:
        reason = _refusal(address, port, networks, by_name)
        if reason:
            raise DestinationRefused(f"{host}:{port} is not an allowed destination: {reason}.")
    return addresses


# Local files -------------------------------------------------------------------
@dataclass(frozen=True)
class LocalPath:
    """A file below one of ``SUNDOWN_LOCAL_TARGET_ROOTS``: the root and the names below it."""

    root: str
    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.parts[-1]


def _local_roots() -> list[tuple[str, str]]:
    """(root as configured, normalised; the same with its own symlinks resolved)."""
    roots = []
    for entry in settings.SUNDOWN_LOCAL_TARGET_ROOTS:
        entry = entry.strip()
        if entry and os.path.isabs(entry):
            # The operator's own links in the root's path are trusted; none below it.
            roots.append((os.path.normpath(entry), os.path.realpath(entry)))
    return roots


def local_path_check(path) -> LocalPath:
    """Refuse ``path`` unless it names a file below an allowed root; no file access.

    The text alone decides (as ``destination_check`` with ``resolve=False``): an
    absolute path with no ``.``, ``..``, empty or control-character parts, below a
    root as configured or as it resolves. Whether the file exists, and that nothing
    below the root is a link, is checked when it is opened (``local_dir_open``).
    """
    if not isinstance(path, str) or not path or len(path) > 1000:
        raise DestinationRefused("The path must be an absolute file path.")
    if not path.startswith("/") or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise DestinationRefused("The path must be an absolute file path (starting with '/').")
    parts = path.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts):
        raise DestinationRefused(
            "The path must be plain: no '.', '..', '//' or trailing '/' in it."
        )
    roots = _local_roots()
    for configured, resolved in roots:
        for prefix in dict.fromkeys((configured, resolved)):
            head = prefix.rstrip("/") + "/"
            below = path[len(head) :] if path.startswith(head) else ""
            if below:
                return LocalPath(root=resolved, parts=tuple(below.strip("/").split("/")))
    if not roots:
        raise DestinationRefused(
            "Local files are not allowed in this deployment (SUNDOWN_LOCAL_TARGET_ROOTS is empty)."
        )
    raise DestinationRefused(
        f"{path} is not below a directory listed in SUNDOWN_LOCAL_TARGET_ROOTS."
    )


class LocalPathMissing(Exception):
    """A directory on the way to the file does not exist (yet): a mount not there, say."""


def local_dir_open(path) -> tuple[int, LocalPath]:
    """An open descriptor of the file's directory, reached from the root one name at a
    time without following links; the caller opens ``.name`` in it (``dir_fd``) with
    ``O_NOFOLLOW`` and closes the descriptor.

    Raises DestinationRefused for a link (or a non-directory) below the root, and
    LocalPathMissing when a directory is not there.
    """
    where = local_path_check(path)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        fd = os.open(where.root, flags)
    except FileNotFoundError as exc:
        raise LocalPathMissing(f"{where.root} does not exist") from exc
    try:
        for part in where.parts[:-1]:
            try:
                child = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError as exc:
                raise LocalPathMissing(f"{path}: the directory {part!r} does not exist") from exc
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise  # permission denied, I/O: the caller's to classify
                # A link (ELOOP under O_NOFOLLOW) or a file: not a plain directory.
                raise DestinationRefused(
                    f"{path}: {part!r} is not a plain directory below the root "
                    "(symbolic links are not followed)."
                ) from exc
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, where
