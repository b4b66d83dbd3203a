"""The OpenAPI schema validates and documents everything; the docs use local assets only."""

import io
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.api.conftest import token_client, verified_session

pytestmark = pytest.mark.django_db


def test_spectacular_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=io.StringIO()
    )
    schema = yaml.safe_load(target.read_text())
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


def _schema(officer) -> dict:
    response = token_client(officer).get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_needs_authentication():
    assert APIClient().get("/api/schema/").status_code == 401


def test_every_operation_documents_auth_and_errors(officer):
    schema = _schema(officer)
    paths = schema["paths"]
    expected = {
        "/api/v1/agencies/",
        "/api/v1/vendors/",
        "/api/v1/vendors/{id}/kill-switch/",
        "/api/v1/contracts/",
        "/api/v1/contracts/{id}/terminate/",
        "/api/v1/systems/",
        "/api/v1/credentials/",
        "/api/v1/credentials/{id}/revoke/",
        "/api/v1/revocations/",
        "/api/v1/manual-tasks/",
        "/api/v1/manual-tasks/{id}/complete/",
        "/api/v1/audit-events/",
        "/api/v1/audit-events/{seq}/",
    }
    assert expected <= set(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert {"tokenAuth": []} in operation["security"], where
            assert {"401", "403", "404", "429"} <= set(operation["responses"]), where
            if method != "get":
                assert "400" in operation["responses"], where
            assert operation.get("summary"), where
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), f"{where} {parameter['name']}"
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert {"status", "code", "message", "fields"} <= set(error["properties"])
    system_out = schema["components"]["schemas"]["System"]["properties"]
    assert "secret" not in system_out and "has_secret" in system_out
    assert "secret" in schema["components"]["schemas"]["SystemRequest"]["properties"]
    audit_params = {p["name"] for p in paths["/api/v1/audit-events/"]["get"]["parameters"]}
    assert {"after_seq", "limit", "action", "agency"} <= audit_params
    credential_params = {p["name"] for p in paths["/api/v1/credentials/"]["get"]["parameters"]}
    assert {"agency", "vendor", "status", "system_kind", "lifecycle", "page_size"} <= (
        credential_params
    )


def test_docs_page_uses_local_assets_only(procurement):
    client = verified_session(procurement)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "external asset in the docs page"
    assert "<style" not in html and "<script>" not in html  # the CSP allows neither
    assert "script-src 'self'" in page["Content-Security-Policy"]
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset
    assert finders.find("api/docs.css")
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()
    assert "https://" not in script.content.decode()


def test_docs_need_sign_in():
    assert APIClient().get("/api/docs/").status_code in (302, 401, 403)
