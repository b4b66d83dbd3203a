"""A queue per connector kind, by Celery's own routing: work for a kind nobody serves
(or a slow one) waits in its own queue while database revocations go through."""

import pytest
import redis

from access.models import Credential, System
from config.celery import app
from revocation import routing, services
from revocation.tasks import revoke_system_batch_task
from tests.factories import CredentialFactory, SystemFactory
from tests.revocation.conftest import role_can_login
from tests.revocation.helpers import Worker, session_broker, wait_for
from tests.revocation.test_worker import ACTOR


def test_batches_route_to_their_kinds_queue_and_the_rest_to_the_default():
    default = app.conf.task_default_queue
    route = app.amqp.router.route
    assert route({}, "revocation.revoke_system_batch", (1,), {"kind": "ldap"})["queue"].name == (
        f"{default}.ldap"
    )
    assert route({}, "revocation.sweep", (), {})["queue"].name == default
    assert routing.queue_names("sundown")[:2] == ["sundown", "sundown.postgres"]
    assert set(routing.queue_names("sundown")) == {
        "sundown",
        *(f"sundown.{k}" for k in System.Kind.values),
    }


def test_every_declared_queue_has_its_own_routing_key():
    keys = [q.routing_key for q in app.conf.task_queues]
    assert len(set(keys)) == len(keys)  # else one message would land in every queue


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_kind_nobody_serves_waits_alone_while_databases_are_revoked(
    vendor, pg_system, pg_roles, agency
):
    (name,) = pg_roles(1)
    directory = SystemFactory(
        agency=agency, kind=System.Kind.LDAP, config={"url": "ldap://127.0.0.1:9"}
    )
    stuck = CredentialFactory(vendor=vendor, system=directory, external_id="uid=a,dc=x")
    fast = CredentialFactory(vendor=vendor, system=pg_system, external_id=name)
    broker, queue = session_broker()
    client = redis.Redis.from_url(broker)
    client.delete(f"{queue}.ldap")
    with Worker(beat=True, kinds=["postgres"]) as worker:
        services.credential_revoke(actor=ACTOR, credential=stuck, reason="slow directory")
        services.credential_revoke(actor=ACTOR, credential=fast, reason="database")
        wait_for(
            lambda: Credential.objects.get(pk=fast.pk).status == "revoked",
            timeout=40,
            message=worker.log,
        )
        assert role_can_login(name) is False
        assert Credential.objects.get(pk=stuck.pk).status == "pending"
        assert client.llen(f"{queue}.ldap") >= 1  # waiting for an LDAP worker
        assert client.llen(f"{queue}.postgres") == 0
    client.delete(f"{queue}.ldap")
    assert revoke_system_batch_task.name == routing.BATCH_TASK
