"""A misconfigured system fails permanently (a person must fix it), for every connector."""

import pytest

from access.models import System
from revocation.connectors.base import ConnectorError, connector_for


@pytest.mark.parametrize("kind", ["postgres", "mariadb", "redis", "ldap", "scim"])
def test_unknown_on_revoke_is_a_permanent_error(kind):
    system = System(name="x", kind=kind, config={"on_revoke": "vaporise", "url": "http://x"})
    with pytest.raises(ConnectorError, match="on_revoke must be") as exc:
        connector_for(system)
    assert exc.value.permanent


def test_unknown_kind_is_a_permanent_error():
    with pytest.raises(ConnectorError) as exc:
        connector_for(System(name="x", kind="mainframe"))
    assert exc.value.permanent
