"""The batch's pure classify step: which claimed row ends how, without a database."""

import time
from dataclasses import dataclass

import pytest

from revocation.connectors.base import Connector, ConnectorError
from revocation.services.events import credential_revoked_event
from revocation.services.outcomes import STILL_ACCEPTED, ConnectorReport, classify


@dataclass
class Row:
    pk: int
    attempts: int = 1


def test_verified_gone_is_revoked_and_still_active_retries():
    rows = [Row(1), Row(2)]
    report = ConnectorReport(errors={1: None, 2: None}, still_active=frozenset({2}))
    decided = classify(rows, mine={1, 2}, report=report, max_attempts=3)
    assert decided.revoked == [1]
    assert decided.retrying == [2] and decided.failed == []
    (failure,) = decided.failures
    assert failure.outcome == "verify_failed" and failure.message == STILL_ACCEPTED
    assert failure.permanent is False and failure.attempt == 1


def test_a_connector_that_cannot_verify_hands_off_instead_of_revoking():
    report = ConnectorReport(errors={1: None, 2: ConnectorError("down")}, verifies=False)
    decided = classify([Row(1), Row(2)], mine={1, 2}, report=report, max_attempts=3)
    assert decided.handed_off == [1] and decided.revoked == []
    assert decided.retrying == [2]


def test_permanent_errors_and_the_last_try_fail_others_retry():
    rows = [Row(1, attempts=1), Row(2, attempts=3), Row(3, attempts=2)]
    report = ConnectorReport(
        errors={
            1: ConnectorError("bad password", permanent=True),
            2: ConnectorError("timeout"),
            3: ConnectorError("timeout"),
        }
    )
    decided = classify(rows, mine={1, 2, 3}, report=report, max_attempts=3)
    assert decided.failed == [1, 2] and decided.retrying == [3]
    by_pk = {f.pk: f for f in decided.failures}
    assert by_pk[1].permanent and by_pk[1].message == "bad password"
    assert not by_pk[2].permanent and by_pk[2].final and by_pk[2].outcome == "error"


def test_rows_lost_to_another_worker_are_left_to_it():
    report = ConnectorReport(errors={1: None, 2: None})
    decided = classify([Row(1), Row(2)], mine={2}, report=report, max_attempts=3)
    assert decided.lost_lease == [1] and decided.revoked == [2]


def test_a_row_without_a_result_is_an_error_never_a_success():
    decided = classify([Row(1)], mine={1}, report=ConnectorReport(errors={}), max_attempts=3)
    assert decided.revoked == [] and decided.retrying == [1]
    assert "no result" in decided.failures[0].message


def test_every_row_lands_under_exactly_one_heading_in_claim_order():
    rows = [Row(pk, attempts=pk % 3 + 1) for pk in range(1, 13)]
    errors = {
        pk: (None if pk % 2 else ConnectorError(f"e{pk}", permanent=pk % 4 == 0))
        for pk in range(1, 12)
    }
    report = ConnectorReport(errors=errors, still_active=frozenset({3, 9}))
    decided = classify(rows, mine=set(range(2, 13)), report=report, max_attempts=3)
    headings = [
        decided.revoked,
        decided.handed_off,
        decided.lost_lease,
        decided.retrying,
        decided.failed,
    ]
    seen = sorted(pk for heading in headings for pk in heading)
    assert seen == list(range(1, 13))
    for heading in headings:
        assert heading == sorted(heading)


def test_credential_revoked_has_one_shape_for_every_route():
    target = ("access.credential", 1, "app (Database role)")
    engine = credential_revoked_event(
        target=target, agency_id=1, before_status="pending", how="connector", attempt=1
    )
    person = credential_revoked_event(
        target=target, agency_id=1, before_status="active", how="confirmation", confirmed_by="ann"
    )
    shared = {"status", "verified", "how", "by"}
    assert shared <= set(engine.after) and shared <= set(person.after)
    assert engine.after["verified"] is True and engine.after["by"] == "engine"
    assert "confirmed_by" not in engine.after
    assert person.after["verified"] is False and person.after["confirmed_by"] == "ann"
    with pytest.raises(ValueError):
        credential_revoked_event(
            target=target, agency_id=1, before_status="pending", how="manual_task"
        )


def test_an_unreachable_target_defers_rows_until_their_last_try():
    down = ConnectorError("could not connect", unreachable=True)
    rows = [Row(1, attempts=1), Row(2, attempts=3)]
    decided = classify(
        rows, mine={1, 2}, report=ConnectorReport(errors={1: down, 2: down}), max_attempts=3
    )
    # Deferred: the system waits for its target; no failure row or event of its own.
    assert decided.deferred == [1] and decided.unreachable is down and decided.untried == []
    # The last try still ends with a person: a target that keeps failing is not a loop.
    assert decided.failed == [2]


def test_rows_the_batch_had_no_time_for_go_back_untried():
    untried = ConnectorError("not tried", untried=True)
    report = ConnectorReport(errors={1: None, 2: untried})
    decided = classify([Row(1), Row(2, attempts=3)], mine={1, 2}, report=report, max_attempts=3)
    assert decided.revoked == [1]
    assert decided.deferred == [2] and decided.untried == [2] and decided.unreachable is None


class OneByOne(Connector):
    """The base class's one-by-one loop, over a list instead of a server."""

    def __init__(self, fail_from: int | None = None):
        self.kind, self.config, self.notes, self.deadline = "loop", {}, {}, None
        self.calls: list[int] = []
        self.fail_from = fail_from

    def revoke(self, credential):
        self.calls.append(credential.pk)
        if self.fail_from is not None and credential.pk >= self.fail_from:
            raise ConnectorError("could not connect", unreachable=True)


def test_the_one_by_one_loop_stops_at_an_unreachable_target_and_at_the_deadline():
    rows = [Row(pk) for pk in range(1, 6)]
    connector = OneByOne(fail_from=3)
    results = connector.revoke_many(rows)
    # One wait for the timeout, not one per credential.
    assert connector.calls == [1, 2, 3]
    assert results[1] is None and results[2] is None
    assert all(results[pk].unreachable for pk in (3, 4, 5))

    connector = OneByOne()
    connector.deadline = time.monotonic() - 1
    results = connector.revoke_many(rows)
    assert connector.calls == [] and all(results[pk].untried for pk in range(1, 6))


def test_revoked_events_of_a_batch_each_name_their_row_its_try_and_its_note():
    from types import SimpleNamespace

    from revocation.services.events import batch_outcome_events

    rows = [
        SimpleNamespace(pk=pk, attempts=attempts, external_id=f"role{pk}", kind="database_role")
        for pk, attempts in [(1, 1), (2, 1), (3, 2), (4, 1), (5, 2)]
    ]
    report = ConnectorReport(errors={row.pk: None for row in rows})
    decided = classify(rows, mine={row.pk for row in rows}, report=report, max_attempts=3)
    system = SimpleNamespace(kind="postgres", agency_id=7)
    events = batch_outcome_events(rows, decided, system=system, notes={4: "dropped"})

    def alone(row, **note):
        return credential_revoked_event(
            target=("access.credential", row.pk, f"{row.external_id} (Database role)"),
            agency_id=7,
            before_status="pending",
            how="connector",
            connector="postgres",
            attempt=row.attempts,
            **note,
        )

    # Built once per try and shared (the audit encodes a shared object once), each
    # event is still the one its row alone would get.
    assert events == [alone(row, **({"note": "dropped"} if row.pk == 4 else {})) for row in rows]
    assert events[0].after is events[1].after and events[2].after is events[4].after
    assert events[3].after["note"] == "dropped" and "note" not in events[1].after
