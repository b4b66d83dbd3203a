"""The connector registry is the only list of kinds: model, forms, API, schema and README
all say exactly what it says, and a kind that left it fails clearly, never with a crash."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from access import services as access_services
from access.models import System
from api.filters import CredentialFilter, SystemFilter
from api.serializers import SystemSerializer
from dashboard.forms import SystemFilterForm
from revocation import services
from revocation.connectors.base import Connector, ConnectorError, connector_for
from revocation.connectors.registry import CONNECTORS, connector_class, kind_choices
from revocation.models import ManualTask
from tests.api.conftest import token_client
from tests.factories import CredentialFactory, SystemFactory, UserFactory
from vendors.permissions import role_grant

ROOT = Path(__file__).resolve().parents[3]
KINDS = list(CONNECTORS)
# The least config each connector's constructor accepts (the rest has defaults).
MINIMAL_CONFIG = {
    "ldap": {"base_dn": "dc=x"},
    "ad": {"base_dn": "dc=x"},
    "scim": {"url": "http://127.0.0.1:9/v2"},
    "htpasswd": {"path": "/srv/htpasswd/users"},
    "ssh": {
        "host": "127.0.0.1",
        "user": "root",
        "host_key": "ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIJpIGNqRiIUkNgiPGz4Bgwm43rS/QyrPAMV4QLLenzEs",
    },
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_connector_class(kind):
    cls = connector_class(kind)
    assert issubclass(cls, Connector)
    connector = connector_for(System(name="x", kind=kind, config=MINIMAL_CONFIG.get(kind, {})))
    assert type(connector) is cls and connector.kind == kind


def test_kinds_without_a_connector_are_not_offered():
    assert "webhook" not in CONNECTORS


def test_model_form_filter_and_serializer_offer_exactly_the_registry():
    assert System._meta.get_field("kind").choices == kind_choices()
    assert [member.value for member in System.Kind] == KINDS
    assert (
        System.Kind.POSTGRES == "postgres"
        and System.Kind.MANUAL.label == CONNECTORS["manual"].label
    )
    assert SystemFilterForm().fields["kind"].choices == [("", "Any kind"), *kind_choices()]
    assert list(SystemSerializer().fields["kind"].choices) == KINDS
    assert [value for value, _ in SystemFilter().filters["kind"].extra["choices"]] == KINDS
    assert [value for value, _ in CredentialFilter().filters["system_kind"].extra["choices"]] == (
        KINDS
    )


def test_openapi_enum_is_the_registry():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert schema["components"]["schemas"]["SystemKindEnum"]["enum"] == KINDS


def test_readme_connector_table_lists_exactly_the_registry():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Target connectors", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)
    assert rows == KINDS


@pytest.mark.django_db
def test_adding_a_kind_needs_no_migration():
    # Choices are a callable: the migration names it, not the list.
    out = io.StringIO()
    call_command("makemigrations", "access", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_registry_imports_no_model_and_no_connector():
    # access.models imports it while Django loads the models: nothing here may need them.
    code = (
        "import sys, revocation.connectors.registry; "
        "print(sorted(m for m in sys.modules if m.startswith(('access', 'revocation'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(
        ["revocation", "revocation.connectors", "revocation.connectors.registry"]
    )


# Systems of a kind that left the registry (webhook rows from before it) -----
@pytest.mark.parametrize("kind", ["webhook", "mainframe"])
def test_a_kind_not_in_the_registry_is_a_permanent_connector_error(kind):
    with pytest.raises(ConnectorError, match=f"no connector for systems of kind '{kind}'") as exc:
        connector_for(System(name="x", kind=kind))
    assert exc.value.permanent


@pytest.mark.django_db
def test_a_removed_kind_cannot_be_created_or_kept_on_edit(actor, agency):
    with pytest.raises(ValidationError) as exc:
        access_services.system_create(actor=actor, agency=agency, name="x", kind="webhook")
    assert "no connector for systems of kind 'webhook'" in exc.value.message_dict["kind"][0]
    old = SystemFactory(agency=agency, kind="webhook")  # a row from before the registry
    with pytest.raises(ValidationError) as exc:
        access_services.system_update(actor=actor, system=old, lifecycle="legacy")
    assert '"manual" hands revocations to a person' in exc.value.message_dict["kind"][0]
    access_services.system_update(actor=actor, system=old, kind="manual", lifecycle="legacy")
    old.refresh_from_db()
    assert (old.kind, old.lifecycle) == ("manual", "legacy")


@pytest.mark.django_db
def test_the_api_answers_400_with_the_kind_field(agency):
    integration = UserFactory(username="hr-sync")
    role_grant(user=integration, agency=agency, role="integration")
    api = token_client(integration)
    response = api.post(
        "/api/v1/systems/", {"agency": agency.pk, "name": "x", "kind": "webhook"}, format="json"
    )
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]
    old = SystemFactory(agency=agency, kind="webhook")
    response = api.patch(f"/api/v1/systems/{old.pk}/", {"lifecycle": "legacy"}, format="json")
    assert response.status_code == 400
    assert "no connector" in str(response.json()["error"]["fields"]["kind"])
    assert api.get(f"/api/v1/systems/{old.pk}/").json()["kind"] == "webhook"


@pytest.mark.django_db
def test_revoking_on_a_removed_kind_fails_at_once_with_a_manual_task(
    agency, actor, settings, monkeypatch
):
    from revocation import tasks

    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid: None)
    system = SystemFactory(agency=agency, kind="webhook", owner_email="ops@agency.example")
    credential = CredentialFactory(vendor__agency=agency, system=system, external_id="SHA256:x")
    services.credential_revoke(actor=actor, credential=credential, reason="contract ended")
    result = services.revocation_batch_run(system_id=system.pk)
    assert result.failed == [credential.pk]
    (task,) = ManualTask.objects.filter(credential=credential, status="open")
    assert "no connector for systems of kind 'webhook'" in task.detail


@pytest.mark.parametrize("kind", KINDS)
def test_every_setting_of_every_kind_is_explained(kind):
    """The system form's field-level help comes from ``config_help``: one entry per key
    the connector reads, no more, each with words and a type the form can parse."""
    from dashboard.system_forms import config_field_name, kind_settings

    cls = connector_class(kind)
    assert set(cls.config_help) == set(cls.config_keys)
    for key, setting in cls.config_help.items():
        assert len(setting.help) > 10, (kind, key)
        assert setting.type in (str, int, float, bool), (kind, key)
    assert cls.secret_help
    # And the form shows each of them, labelled and explained.
    from dashboard.system_forms import SystemForm

    form = SystemForm(agencies=())
    for key, setting in kind_settings(kind):
        field = form.fields[config_field_name(kind, key)]
        assert field.label == key and field.help_text == setting.help


@pytest.mark.parametrize("kind", KINDS)
def test_settings_with_fixed_values_match_the_connector(kind):
    """The form's choices for a setting are the ones the connector accepts."""
    from revocation.connectors.base import ConnectorError as Refused

    cls = connector_class(kind)
    # ssh: krl mode needs the KRL path, ending the account's processes another account.
    extra = {"krl_path": "/etc/ssh/krl", "account": "vendor"} if kind == "ssh" else {}
    base = {**MINIMAL_CONFIG.get(kind, {}), **extra}
    for key, setting in cls.config_help.items():
        for value in setting.choices:
            cls(System(name="x", kind=kind, config={**base, key: value}))
        if setting.choices:
            with pytest.raises(Refused):
                cls(System(name="x", kind=kind, config={**base, key: "no-such-value"}))


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_says_what_its_meta_says(kind):
    """The form reads a kind's settings from revocation.connectors.meta; the connector
    class takes the same objects, so the two cannot drift."""
    from revocation.connectors.registry import connector_meta

    cls, meta = connector_class(kind), connector_meta(kind)
    assert cls.config_help == meta.config_help
    assert cls.config_keys == meta.config_keys
    assert (cls.secret_help, cls.limits, cls.verifies) == (
        meta.secret_help,
        meta.limits,
        meta.verifies,
    )


def test_the_system_form_imports_no_connector():
    # Building every kind's fieldset once imported every connector and its driver: the
    # first GET /systems/new/ took seconds on a busy machine (20-30 s under load).
    code = (
        "import sys, django; django.setup(); before = set(sys.modules); "
        "from dashboard.system_forms import SystemForm; "
        "SystemForm(agencies=()).kind_sections(); "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.startswith('revocation.connectors.') and '.meta' not in m))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"},
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_meta_modules_import_no_model_and_no_driver():
    code = (
        "import sys; from revocation.connectors.registry import CONNECTORS, connector_meta; "
        "[connector_meta(kind) for kind in CONNECTORS]; "
        "print(sorted(m for m in sys.modules if m.startswith(('access', 'psycopg2', "
        "'pymysql', 'ldap3', 'paramiko', 'httpx2', 'scim2', 'revocation.connectors.base'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
