"""SCIM services for the connector tests.

- scim2-server: a SCIM 2.0 service in a subprocess on a free loopback port, once per
  test session, with a bearer token.
- scimmy: an independently written SCIM 2.0 service (npm scimmy + scimmy-routers, in
  node_modules), run by scimmy_server.mjs the same way; also in the quirky variants some
  services in the field have (see that script).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2
import pytest

from tests.revocation.connectors.servers import (
    LOOPBACK,
    _stop,
    _wait_port,
    free_port,
    make_system,
    unique,
)


# SCIM ----------------------------------------------------------------------
class ScimServer:
    """scim2-server's test server (in-memory storage), run as a real HTTP service."""

    token = "scim-test-token"

    def __init__(self):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}/v2"
        self.log = Path(tempfile.mkstemp(prefix="sundown-scim-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> ScimServer:
        cli = Path(sys.executable).with_name("scim2-server")
        self.proc = subprocess.Popen(
            [str(cli), "--hostname", LOOPBACK, "--port", str(self.port)]
            + ["--bearer-token", self.token],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "scim2-server", self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self.log.unlink(missing_ok=True)

    def http(self) -> httpx2.Client:
        return httpx2.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def add_users(self, n: int, active: bool = True) -> list[str]:
        ids = []
        with self.http() as http:
            for _ in range(n):
                response = http.post(
                    "/Users",
                    json={
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": unique("vendor"),
                        "active": active,
                    },
                )
                response.raise_for_status()
                ids.append(response.json()["id"])
        return ids

    def add_user(self, active: bool = True) -> str:
        return self.add_users(1, active)[0]

    def user(self, user_id: str) -> dict | None:
        with self.http() as http:
            response = http.get(f"/Users/{user_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()


class ScimmyServer(ScimServer):
    """scimmy behind express (node), in-memory users; ``quirks`` as scimmy_server.mjs."""

    script = Path(__file__).with_name("scimmy_server.mjs")

    def __init__(self, *quirks: str):
        super().__init__()
        self.url = f"http://{LOOPBACK}:{self.port}/scim/v2"
        self.quirks = quirks

    def start(self) -> ScimmyServer:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed for the scimmy SCIM server")
        self.proc = subprocess.Popen(
            [node, str(self.script), str(self.port), self.token],
            env={**os.environ, "SCIMMY_QUIRKS": ",".join(self.quirks)},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "scimmy", self.log)
        return self


@pytest.fixture(scope="session")
def scim_server():
    server = ScimServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def scimmy_server():
    server = ScimmyServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def scimmy_servers():
    """scimmy with quirks, by quirk set: each started on first use, once per session."""
    servers: dict[tuple[str, ...], ScimmyServer] = {}

    def get(*quirks: str) -> ScimmyServer:
        if quirks not in servers:
            servers[quirks] = ScimmyServer(*quirks).start()
        return servers[quirks]

    yield get
    for server in servers.values():
        server.stop()


def _scim_system_factory(agency, server: ScimServer):
    def make(token: str | None = None, **config):
        return make_system(
            agency,
            "scim",
            {"url": server.url, **config},
            secret=server.token if token is None else token,
        )

    return make


@pytest.fixture
def scim_system(agency, scim_server):
    return _scim_system_factory(agency, scim_server)


@pytest.fixture
def scimmy_system(agency, scimmy_server):
    return _scim_system_factory(agency, scimmy_server)


@pytest.fixture
def scimmy_quirky_system(agency, scimmy_servers):
    """A system on a scimmy started with these quirks, and that server."""

    def make(*quirks: str, **config):
        server = scimmy_servers(*quirks)
        return _scim_system_factory(agency, server)(**config), server

    return make
