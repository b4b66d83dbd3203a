"""Where a system may point: the allowlist, at save time and again at connect time, and the
secret that stays behind when the destination moves (issue 10, High and the SSRF findings)."""

import json
import socket
import struct
import threading

import pytest
from django.test import override_settings

from access import services
from access.destinations import DestinationRefused, destination_check
from access.models import System
from audit.models import AuditEvent
from revocation.connectors.base import ConnectorError, connector_for
from tests.api.conftest import token_client
from tests.factories import SystemFactory
from tests.revocation.connectors.servers import free_port

pytestmark = pytest.mark.django_db

EVERYWHERE = ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # cloud metadata
        "169.254.10.1",  # link-local
        "fe80::1",
        "fd00:ec2::254",  # AWS's IPv6 metadata
        "::ffff:169.254.169.254",  # the same, IPv4-mapped
        "100.100.100.200",  # Alibaba's metadata
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_metadata_and_link_local_are_refused_even_by_a_match_all_allowlist(host):
    with override_settings(SUNDOWN_TARGET_ALLOWLIST=EVERYWHERE), pytest.raises(DestinationRefused):
        destination_check(host, 80, resolve=True)


def test_loopback_only_where_a_loopback_network_is_listed():
    with override_settings(SUNDOWN_TARGET_ALLOWLIST=EVERYWHERE):
        with pytest.raises(DestinationRefused, match="loopback"):
            destination_check("127.0.0.1", 5432, resolve=True)
        with pytest.raises(DestinationRefused, match="loopback"):
            destination_check("localhost", 5432, resolve=True)
        destination_check("10.1.2.3", 5432, resolve=True)
    with override_settings(SUNDOWN_TARGET_ALLOWLIST=["127.0.0.0/8"]):
        destination_check("127.0.0.1", 5432, resolve=True)


def test_private_addresses_need_the_allowlist():
    with override_settings(SUNDOWN_TARGET_ALLOWLIST=["10.20.0.0/16", "*.agency.example"]):
        destination_check("10.20.3.4", 5432, resolve=True)
        destination_check("db.agency.example", 5432, resolve=False)
        for host in ("10.0.0.1", "192.168.1.1", "agency.example.evil.test"):
            with pytest.raises(DestinationRefused):
                destination_check(host, 5432, resolve=False)


@pytest.mark.parametrize(
    "host", ["/var/run/postgresql", "a.internal,b.internal", "db internal", "", 5432, None]
)
def test_socket_paths_host_lists_and_junk_are_not_hosts(host):
    with pytest.raises(DestinationRefused):
        destination_check(host, 5432, resolve=False)


def test_own_database_broker_and_cache_are_refused(settings):
    settings.SUNDOWN_TARGET_ALLOW_OWN_SERVICES = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6390/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://localhost:6391/1",
        }
    }
    db = settings.DATABASES["default"]
    for port in (int(db["PORT"] or 5432), 6390, 6391):
        with pytest.raises(DestinationRefused, match="own"):
            destination_check("127.0.0.1", port, resolve=True)
    destination_check("127.0.0.1", 6392, resolve=True)


def test_a_name_allowed_at_save_time_is_checked_again_when_connecting(actor, agency, settings):
    # Allowed by name when saved (not resolved then); by connect time it resolves to
    # loopback, which this deployment does not allow: refused, nothing sent.
    settings.SUNDOWN_TARGET_ALLOWLIST = ["localhost"]
    system = services.system_create(
        actor=actor,
        agency=agency,
        name="renamed",
        kind="redis",
        config={"host": "localhost", "port": 6379},
        secret="the-secret",
    )
    connector = connector_for(system)
    with connector, pytest.raises(ConnectorError) as caught:
        connector.list_accounts()
    assert caught.value.permanent and "not an allowed destination" in caught.value.message


def test_connectors_check_at_connect_time_whatever_the_row_says(agency):
    # A row written past the services (an old row, a restore): still refused.
    for kind, config in [
        ("postgres", {"host": "169.254.169.254"}),
        ("mariadb", {"host": "169.254.169.254"}),
        ("redis", {"host": "169.254.169.254"}),
        ("ldap", {"url": "ldapi:///var/run/slapd/ldapi", "base_dn": "dc=x"}),
        ("scim", {"url": "file:///etc/passwd"}),
    ]:
        system = SystemFactory(agency=agency, kind=kind, config=config)
        connector = connector_for(system)
        with connector, pytest.raises(ConnectorError) as caught:
            connector.list_accounts()
        assert caught.value.permanent, kind


# Saving through the API --------------------------------------------------------


@pytest.fixture
def inventory_client(agency):
    from tests.factories import UserFactory
    from vendors.permissions import role_grant

    user = UserFactory(username="inventory")
    role_grant(user=user, agency=agency, role="integration")
    return token_client(user)


@pytest.fixture
def pg(agency):
    return SystemFactory(
        agency=agency,
        kind="postgres",
        config={"host": "127.0.0.1", "port": 5432, "user": "sundown", "dbname": "crm"},
    )


@pytest.mark.parametrize(
    "config",
    [
        {"host": "169.254.169.254"},
        {"host": "/var/run/postgresql"},
        {"host": "127.0.0.1", "dbname": "host=evil.test dbname=x"},
        {"host": "127.0.0.1", "pwd": "x"},
        {"host": "127.0.0.1", "pass": "x"},
        {"host": "127.0.0.1", "auth": "x"},
        {"host": "127.0.0.1", "dsn": "postgres://u:pw@db.internal/x"},
        {"host": "127.0.0.1", "options": "-c x=1"},
        {"host": "127.0.0.1", "port": {"nested": {"deeper": [1]}}},
        {"host": "127.0.0.1", "user": "\udfff"},
        {"host": "127.0.0.1", "user": "a\nb"},
    ],
)
def test_api_refuses_configs_that_point_elsewhere_or_hold_secrets(inventory_client, pg, config):
    response = inventory_client.patch(
        f"/api/v1/systems/{pg.pk}/",
        json.dumps({"config": config}),  # ASCII escapes, so a lone surrogate can be sent
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "config" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "kind,config",
    [
        ("scim", {"url": "file:///etc/passwd"}),
        ("scim", {"url": "https://user:pw@scim.internal/v2"}),
        ("scim", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("ldap", {"url": "ldapi:///var/run/slapd/ldapi", "base_dn": "dc=x"}),
        ("redis", {"host": "127.0.0.1", "port": 6379, "password": "x"}),
    ],
)
def test_api_refuses_other_kinds_pointing_elsewhere(inventory_client, agency, kind, config):
    response = inventory_client.post(
        "/api/v1/systems/",
        {"agency": agency.pk, "name": f"x-{kind}", "kind": kind, "config": config},
    )
    assert response.status_code == 400, response.content
    assert "config" in response.json()["error"]["fields"]


def test_api_refuses_the_broker(inventory_client, agency, settings):
    settings.SUNDOWN_TARGET_ALLOW_OWN_SERVICES = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    response = inventory_client.post(
        "/api/v1/systems/",
        {"agency": agency.pk, "name": "broker", "kind": "redis", "config": {"port": 6379}},
    )
    assert response.status_code == 400
    assert "own database, broker or cache" in str(response.json()["error"]["fields"]["config"])


# The secret stays behind when the destination moves -------------------------------


def test_moving_the_destination_clears_the_secret_and_is_audited(actor, pg):
    services.system_update(actor=actor, system=pg, secret="s3cret")
    services.system_update(actor=actor, system=pg, config={**pg.config, "port": 5433})
    pg.refresh_from_db()
    assert not pg.has_secret
    moved = AuditEvent.objects.get(action="system.destination_changed", target_id=str(pg.pk))
    assert moved.before["port"] == 5432 and moved.after["port"] == 5433
    assert moved.before["has_secret"] is True and moved.after["has_secret"] is False
    updated = AuditEvent.objects.filter(action="system.updated").latest("seq")
    assert updated.after["secret"] == "cleared"


@pytest.mark.parametrize(
    "change",
    [
        {"config": {"host": "db2.internal", "port": 5432, "user": "sundown", "dbname": "crm"}},
        {"config": {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "crm"}},
        {"config": {"host": "127.0.0.1", "port": 5432, "user": "sundown", "dbname": "hr"}},
        {"kind": "redis", "config": {"host": "127.0.0.1", "port": 5432}},
    ],
)
def test_every_destination_setting_and_the_kind_clear_it(actor, pg, change):
    services.system_update(actor=actor, system=pg, secret="s3cret")
    services.system_update(actor=actor, system=pg, **change)
    pg.refresh_from_db()
    assert not pg.has_secret


def test_a_new_secret_in_the_same_change_is_kept(actor, pg):
    services.system_update(actor=actor, system=pg, secret="old")
    services.system_update(
        actor=actor, system=pg, config={**pg.config, "host": "db2.internal"}, secret="new"
    )
    pg.refresh_from_db()
    assert pg.get_secret() == "new"


def test_settings_that_do_not_move_it_keep_the_secret(actor, pg):
    services.system_update(actor=actor, system=pg, secret="s3cret")
    services.system_update(actor=actor, system=pg, config={**pg.config, "connect_timeout": 2})
    services.system_update(actor=actor, system=pg, name="renamed", lifecycle="legacy")
    pg.refresh_from_db()
    assert pg.get_secret() == "s3cret"
    assert not AuditEvent.objects.filter(action="system.destination_changed").exists()


class CleartextPasswordCatcher:
    """A listener that speaks just enough PostgreSQL to ask for a cleartext password."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(10)
        try:
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(3)
                    try:
                        first = conn.recv(8)
                        if first[4:8] == struct.pack("!I", 80877103):  # SSLRequest
                            conn.sendall(b"N")
                        self.received += conn.recv(65536)
                        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # cleartext, please
                        self.received += conn.recv(65536)
                    except OSError:
                        pass
        except OSError:
            return

    def close(self):
        self.sock.close()


def test_an_inventory_manager_cannot_send_the_secret_to_their_listener(inventory_client, pg):
    """The penetration test's first finding, step by step: PATCH the host/port to a
    listener that asks for a cleartext password, then let the connector connect."""
    services.system_update(actor=_system_actor(), system=pg, secret="the-real-s3cret")
    catcher = CleartextPasswordCatcher()
    try:
        response = inventory_client.patch(
            f"/api/v1/systems/{pg.pk}/",
            {"config": {**pg.config, "port": catcher.port, "connect_timeout": 2}},
        )
        assert response.status_code == 200 and response.json()["has_secret"] is False
        pg.refresh_from_db()
        connector = connector_for(pg)
        with connector, pytest.raises(ConnectorError) as caught:
            connector.list_accounts()
        assert caught.value.message == "could not connect to the postgres system"
    finally:
        catcher.close()
    assert b"the-real-s3cret" not in catcher.received


def _system_actor():
    from audit.actor import Actor

    return Actor.system("tests")


def test_manual_systems_may_only_record_where_they_are(actor, agency):
    system = services.system_create(
        actor=actor,
        agency=agency,
        name="jump host",
        kind=System.Kind.MANUAL,
        config={"host": "jump.internal", "port": 22},
    )
    assert system.config["host"] == "jump.internal"
    free = free_port()
    for config in ({"host": "169.254.169.254"}, {"key": "x"}, {"url": f"file:///{free}"}):
        with pytest.raises(Exception) as caught:
            services.system_update(actor=actor, system=system, config=config)
        assert "config" in caught.value.message_dict
