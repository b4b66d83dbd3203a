"""A real OpenID provider (npm oidc-provider, tests/sso/oidc_provider.mjs) on loopback.

``oidc_provider`` is session-scoped and shared by tests/sso and tests/e2e (imported in
tests/conftest.py); ``sso`` points Sundown's settings at it for one test and puts the
provider's users back as they were.
"""

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "sso" / "oidc_provider.mjs"
CLIENT_ID = "sundown-test"
CLIENT_SECRET = "test-client-secret-not-for-production"
PASSWORD = "idp-pass-1234"
MFA_ACR = "urn:test:loa:mfa"

# Who exists at the provider: groups, and how they authenticated (amr / acr).
USERS = {
    "olivia": {"groups": ["sundown-health-officers"], "amr": ["pwd"]},
    "mia": {"groups": ["sundown-health-officers", "staff"], "amr": ["pwd", "otp"]},
    "alex": {"groups": ["sundown-health-officers"], "amr": ["pwd"], "acr": MFA_ACR},
    "cleo": {
        "groups": ["sundown-procurement", "sundown-tax-auditors", "staff"],
        "amr": ["pwd"],
        "email": "cleo@health.example",
        "name": "Cleo Clerk",
    },
    "nora": {"groups": ["marketing", "staff"], "amr": ["pwd", "mfa"]},
    "officer": {"groups": ["sundown-health-officers"], "amr": ["pwd"]},
}
MAPPING = {
    "sundown-health-officers": [{"agency": "health", "role": "security_officer"}],
    "sundown-procurement": [{"agency": "health", "role": "procurement"}],
    "sundown-tax-auditors": [{"agency": "tax", "role": "auditor"}],
    "sundown-ghost-agency": [{"agency": "no-such-agency", "role": "auditor"}],
}


def _entry(login: str, **changes) -> dict:
    return {"password": PASSWORD, **USERS[login], **changes}


class OidcProvider:
    """The running provider: its issuer URL and a way to change a user's claims."""

    def __init__(self, process: subprocess.Popen, issuer: str):
        self.process = process
        self.issuer = issuer

    def user_set(self, login: str, **changes) -> None:
        """What an IdP administrator does: change a user's groups, amr or acr."""
        response = requests.put(
            f"{self.issuer}/test-admin/users/{login}", json=_entry(login, **changes), timeout=5
        )
        response.raise_for_status()

    def reset(self) -> None:
        for login in USERS:
            self.user_set(login)


def start_provider(config_path: Path, redirect_uris: list[str]) -> OidcProvider:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("node and node_modules/oidc-provider are needed: `make test` installs them")
    config_path.write_text(
        json.dumps(
            {
                "client": {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": redirect_uris,
                },
                "users": {login: _entry(login) for login in USERS},
                "acr_values": [MFA_ACR, "urn:test:loa:low"],
            }
        )
    )
    process = subprocess.Popen(
        [node, str(SCRIPT), str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    if not line or not line[0].startswith("issuer "):
        process.kill()
        pytest.fail(f"the OpenID provider did not start (exit {process.poll()})")
    return OidcProvider(process, line[0].split()[1])


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    callback = "/accounts/oidc/callback/"
    provider = start_provider(
        tmp_path_factory.mktemp("oidc") / "provider.json",
        [f"http://testserver{callback}", f"{live_server.url}{callback}"],
    )
    yield provider
    provider.process.terminate()
    try:
        provider.process.wait(10)
    except subprocess.TimeoutExpired:
        provider.process.kill()


@pytest.fixture
def sso(settings, oidc_provider, agency, other_agency):
    """Sundown configured for the test provider, with the health and tax agencies."""
    settings.SUNDOWN_OIDC_ISSUER = oidc_provider.issuer
    settings.SUNDOWN_OIDC_DISCOVERY_URL = ""
    settings.SUNDOWN_OIDC_CLIENT_ID = CLIENT_ID
    settings.SUNDOWN_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.SUNDOWN_OIDC_PROVIDER_NAME = "Test IdP"
    settings.SUNDOWN_OIDC_SCOPES = ["openid", "email", "profile", "groups"]
    settings.SUNDOWN_OIDC_ROLE_MAPPING = json.dumps(MAPPING)
    settings.SUNDOWN_OIDC_MFA_ACR = [MFA_ACR]
    oidc_provider.reset()
    return oidc_provider


def idp_sign_in(authorize_url: str, login: str, password: str = PASSWORD) -> str:
    """Walk the provider's pages like a browser would; returns the callback URL it sends
    the person back to (with code and state)."""
    session = requests.Session()
    response = session.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if "/accounts/oidc/callback/" in location:
                return location
            response = session.get(location, allow_redirects=False, timeout=10)
        elif response.status_code == 200 and "/interaction/" in response.url:
            action = re.search(r'action="([^"]+)"', response.text).group(1)
            response = session.post(
                urljoin(response.url, action),
                data={"login": login, "password": password},
                allow_redirects=False,
                timeout=10,
            )
        else:
            raise AssertionError(f"provider answered {response.status_code}: {response.text[:300]}")
    raise AssertionError("the provider never sent the browser back")
