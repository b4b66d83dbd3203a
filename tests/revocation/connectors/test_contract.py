"""The contract every connector keeps, checked against its real target (targets.py).

- Revoking is idempotent: twice, or an account that is already gone, is success, and
  revoking an account that is not there does not create it.
- ``missing`` tells "never there" from "there": an identifier the target never had is
  missing (and so, in the engine, fails as not found), an account it has is not; an
  account that was there and is revoked ends verified revoked.
- Verify reads the target back: an active account is reported active, and a revocation
  done behind Sundown's back is seen.
- Where the protocol has a login, the vendor logs in before and is refused after.
- A target that does not answer is a transient ConnectorError (the retry ladder waits);
  connector credentials the target refuses, or a config the connector cannot use, are
  permanent (a person must fix the system).
- Every kind in the registry is here; a connector that cannot read its target back
  (manual) says so and never reports anything gone.

A new connector joins with one Target in targets.py; its own tests (batching, sessions,
modes) stay in test_<kind>.py.
"""

import pytest

from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.registry import CONNECTORS
from tests.revocation.connectors.servers import credentials, make_system
from tests.revocation.connectors.targets import TARGETS, Target

pytestmark = pytest.mark.django_db

# Kinds whose connector hands revocations to a person (verifies = False).
NOT_VERIFYING = {"manual"}


@pytest.fixture(params=list(TARGETS))
def target(request, agency) -> Target:
    cls, mode = TARGETS[request.param]
    return cls(request, agency, **mode)


@pytest.fixture(params=[name for name, (cls, _) in TARGETS.items() if cls.login])
def login_target(request, agency) -> Target:
    cls, mode = TARGETS[request.param]
    return cls(request, agency, **mode)


def expect_error(call) -> ConnectorError:
    """The ConnectorError of ``call``, raised or returned per credential by revoke_many."""
    try:
        results = call()
    except ConnectorError as exc:
        return exc
    errors = list(results.values()) if isinstance(results, dict) else []
    assert errors and all(isinstance(e, ConnectorError) for e in errors), results
    assert len({e.permanent for e in errors}) == 1, errors
    return errors[0]


def test_every_registered_kind_is_in_the_contract():
    covered = {cls.kind for cls, _ in TARGETS.values()} | NOT_VERIFYING
    assert covered == set(CONNECTORS)


def test_revoking_twice_or_an_account_already_gone_is_success(target):
    system = target.system()
    present, missing = credentials(system, [target.account(), target.missing()])
    with connector_for(system) as connector:
        assert connector.revoke_many([present, missing]) == {present.pk: None, missing.pk: None}
        assert connector.revoke_many([present, missing]) == {present.pk: None, missing.pk: None}
        connector.revoke(present)
        connector.revoke(missing)
        assert connector.still_active([present, missing]) == set()
        listed = {account.external_id for account in connector.list_accounts()}
    assert missing.external_id not in listed  # revoking it did not create it


def test_missing_names_what_the_target_never_had_and_not_what_it_has(target):
    system = target.system()
    present, never = credentials(system, [target.account(), target.missing()])
    with connector_for(system) as connector:
        assert set(connector.missing([present, never])) == {never.pk}
        assert connector.missing([]) == {}
        # Revoked (disabled, locked) is not missing: it is still an account there.
        if target.keeps_account:
            connector.revoke(present)
            assert set(connector.missing([present])) == set()


def test_the_engine_fails_a_never_seen_identifier_and_verifies_a_present_one(target):
    from revocation import services
    from revocation.models import ManualTask
    from tests.revocation.connectors.servers import request_all

    system = target.system()
    present, never = credentials(system, [target.account(), target.missing()])
    request_all([present, never])
    result = services.revocation_batch_run(system_id=system.pk)
    assert result.revoked == [present.pk]
    assert result.failed == [never.pk]
    never.refresh_from_db()
    assert "not found on the target" in never.last_error
    assert ManualTask.objects.filter(credential=never).exists()
    with connector_for(system) as connector:
        assert connector.still_active([present]) == set()


def test_verify_reads_the_target_back(target):
    system = target.system()
    active, by_hand = credentials(system, [target.account(), target.account()])
    with connector_for(system) as connector:
        assert connector.still_active([active, by_hand]) == {active.pk, by_hand.pk}
        assert connector.is_active(active)
        target.revoke_by_hand(by_hand.external_id)
        assert connector.still_active([active, by_hand]) == {active.pk}
        assert not connector.is_active(by_hand)


def test_the_vendor_logs_in_before_and_is_refused_after(login_target):
    system = login_target.system()
    (credential,) = credentials(system, [login_target.account()])
    assert login_target.can_login(credential.external_id)
    with connector_for(system) as connector:
        assert connector.revoke_many([credential]) == {credential.pk: None}
        assert connector.still_active([credential]) == set()
    assert not login_target.can_login(credential.external_id)


def test_a_target_that_does_not_answer_is_transient(target):
    system = target.down_system()
    (credential,) = credentials(system, [target.missing()])
    for call in ("revoke_many", "still_active", "missing", "list_accounts"):
        with connector_for(system) as connector:
            args = () if call == "list_accounts" else ([credential],)
            error = expect_error(lambda: getattr(connector, call)(*args))  # noqa: B023
        assert error.permanent is False, (call, error.message)
        # The target, not the credential: the engine defers the batch and opens the
        # system's outage instead of spending a try per credential.
        assert error.unreachable is True, (call, error.message)


def test_probe_passes_on_a_live_target_and_fails_as_unreachable_on_a_down_one(target):
    with connector_for(target.system()) as connector:
        connector.probe()
    with connector_for(target.down_system()) as connector, pytest.raises(ConnectorError) as caught:
        connector.probe()
    assert caught.value.unreachable and not caught.value.permanent


def test_refused_connector_credentials_are_permanent(target):
    good = target.system()
    (credential,) = credentials(good, [target.account()])
    system = target.bad_credentials_system()
    credential.system = system
    for call in ("revoke_many", "still_active", "missing", "list_accounts"):
        with connector_for(system) as connector:
            args = () if call == "list_accounts" else ([credential],)
            error = expect_error(lambda: getattr(connector, call)(*args))  # noqa: B023
        assert error.permanent is True, (call, error.message)
    # Nothing was revoked on the strength of a refused call.
    with connector_for(good) as connector:
        assert connector.still_active([credential]) == {credential.pk}


def test_a_config_the_connector_cannot_use_is_permanent(target):
    with pytest.raises(ConnectorError, match="on_revoke must be") as exc:
        connector_for(target.system(on_revoke="vaporise"))
    assert exc.value.permanent


@pytest.mark.parametrize("kind", sorted(NOT_VERIFYING))
def test_a_connector_that_cannot_read_back_never_reports_access_gone(agency, kind):
    system = make_system(agency, kind, {})
    present, other = credentials(system, ["archive-share-acme", "archive-share-beta"])
    with connector_for(system) as connector:
        assert connector.verifies is False
        assert connector.revoke_many([present, other]) == {present.pk: None, other.pk: None}
        assert connector.still_active([present, other]) == {present.pk, other.pk}
        with pytest.raises(ConnectorError) as exc:
            connector.list_accounts()
    assert exc.value.permanent
