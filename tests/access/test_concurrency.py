"""Racing actors settle on exactly one state: real concurrent transactions on PostgreSQL."""

import threading

import pytest
from django.db import connection, connections

from access import services
from access.models import AccessRequest, Decision
from access.services import requests as request_services
from audit.models import AuditEvent
from audit.records import RequestMeta
from core.errors import PortalError
from federation.models import RoleMapping
from tests.access.conftest import file, with_authenticator
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 5


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the concurrency that matters is PostgreSQL's (SQLite has one writer)")


@pytest.fixture
def approvers(world, on_request, dave):
    people = [dave]
    for name in ("erin", "frank"):
        person = with_authenticator(UserFactory(username=name))
        MembershipFactory(user=person, tenant=world.tenant_a)
        people.append(person)
    on_request.approvers.set(people)
    return people


def race(*actions):
    """Run the actions at the same moment, each in its own thread and connection; return
    what each one raised (None for success)."""
    start = threading.Barrier(len(actions))
    outcomes = [None] * len(actions)

    def run(index, action):
        try:
            start.wait()
            action()
        except PortalError as error:
            outcomes[index] = error
        except Exception as error:  # pragma: no cover - reported by the assertion below
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def count(action, access):
    return AuditEvent.objects.filter(action=action, detail__startswith=f"#{access.pk} ").count()


def approve(person, access):
    return lambda: services.decide(
        user=person, request_id=access.pk, approve=True, meta=RequestMeta()
    )


def fresh(world, grant):
    """A new pending request by bob (the last one settled first)."""
    AccessRequest.objects.unscoped("test").filter(state__in=["pending", "active"]).update(
        state="ended"
    )
    return file(world, grant)


def test_approvers_approving_at_once_open_one_window(world, on_request, approvers):
    for _ in range(ROUNDS):
        access = fresh(world, on_request)
        outcomes = race(*(approve(person, access) for person in approvers))
        assert sum(outcome is None for outcome in outcomes) == 1, outcomes
        assert all(o is None or o.status == 409 for o in outcomes), outcomes
        access.refresh_from_db()
        assert access.state == "active"
        assert count("request.activated", access) == 1
        assert Decision.objects.unscoped("test").filter(request=access).count() == 1


def test_with_two_approvals_needed_three_at_once_activate_once(world, on_request, approvers):
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(approvals_needed=2)
    for _ in range(ROUNDS):
        access = fresh(world, on_request)
        race(*(approve(person, access) for person in approvers))
        access.refresh_from_db()
        assert access.state == "active"
        assert count("request.activated", access) == 1
        approvals = Decision.objects.unscoped("test").filter(request=access).count()
        assert approvals == count("request.approved", access) == 2


def test_an_approval_racing_a_cancel_ends_in_one_state(world, on_request, approvers):
    dave = approvers[0]
    for _ in range(ROUNDS):
        access = fresh(world, on_request)
        race(
            approve(dave, access),
            lambda access=access: services.cancel(
                user=world.bob, request_id=access.pk, meta=RequestMeta()
            ),
        )
        access.refresh_from_db()
        assert access.state in {"active", "cancelled"}
        assert count("request.activated", access) + count("request.cancelled", access) == 1
        assert count(f"request.{'activated' if access.state == 'active' else 'cancelled'}", access)


def test_an_approval_racing_the_clocks_expiry_ends_in_one_state(world, on_request, approvers):
    from django.utils import timezone

    dave = approvers[0]
    for _ in range(ROUNDS):
        access = fresh(world, on_request)
        race(
            approve(dave, access),
            lambda access=access: request_services.expire(access, now=timezone.now()),
        )
        access.refresh_from_db()
        assert access.state in {"active", "expired"}
        assert count("request.activated", access) + count("request.expired", access) == 1
