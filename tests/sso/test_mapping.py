"""The group -> agency-and-role mapping and the MFA claim, without a database or provider."""

import pytest

from sso.mapping import (
    AgencyRole,
    MappingError,
    grants_for,
    groups_from_claims,
    idp_mfa,
    parse_mapping,
)

ROLES = ("security_officer", "procurement", "auditor", "integration")


def test_mapping_parses_json_and_unions_the_groups():
    mapping = parse_mapping(
        '{"officers": [{"agency": "health", "role": "security_officer"}],'
        ' "audit": [{"agency": "health", "role": "auditor"},'
        ' {"agency": "tax", "role": "auditor"}]}',
        roles=ROLES,
    )
    assert grants_for(mapping, ["officers", "audit", "unmapped"]) == {
        AgencyRole("health", "security_officer"),
        AgencyRole("health", "auditor"),
        AgencyRole("tax", "auditor"),
    }
    assert grants_for(mapping, ["unmapped"]) == frozenset()
    assert grants_for(mapping, []) == frozenset()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["officers"]', "must be a JSON object"),
        ('{"g": {"agency": "health", "role": "auditor"}}', "expected a list"),
        ('{"g": [{"agency": "health"}]}', "exactly 'agency' and 'role'"),
        ('{"g": [{"agency": "health", "role": "auditor", "extra": 1}]}', "exactly"),
        ('{"g": [{"agency": "", "role": "auditor"}]}', "agency slug"),
        ('{"g": [{"agency": "health", "role": "superuser"}]}', "unknown role 'superuser'"),
        ('{"": [{"agency": "health", "role": "auditor"}]}', "non-empty"),
    ],
)
def test_a_wrong_mapping_is_an_error_that_says_what_is_wrong(raw, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(raw, roles=ROLES)


def test_an_empty_setting_maps_nothing():
    assert parse_mapping("", roles=ROLES) == {}
    assert parse_mapping("{}", roles=ROLES) == {}


def test_groups_come_from_a_list_a_string_or_a_nested_claim():
    assert groups_from_claims({"groups": ["b", "a", "a", 7]}, "groups") == ["a", "b"]
    assert groups_from_claims({"groups": "solo"}, "groups") == ["solo"]
    assert groups_from_claims({"groups": {"not": "a list"}}, "groups") == []
    assert groups_from_claims({}, "groups") == []
    keycloak = {"realm_access": {"roles": ["officers"]}}
    assert groups_from_claims(keycloak, "realm_access.roles") == ["officers"]


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"amr": ["pwd", "mfa"]}, True),
        ({"amr": ["pwd", "otp"]}, True),
        ({"amr": ["pwd"]}, False),
        ({"amr": "mfa"}, False),  # amr is an array by definition; a string is not believed
        ({}, False),
        ({"acr": "urn:loa:high"}, True),
        ({"acr": "urn:loa:low"}, False),
        ({"amr": ["pwd"], "acr": "urn:loa:high"}, True),
    ],
)
def test_the_mfa_claim_counts_only_with_configured_values(claims, expected):
    assert idp_mfa(claims, amr_values=["mfa", "otp"], acr_values=["urn:loa:high"]) is expected
