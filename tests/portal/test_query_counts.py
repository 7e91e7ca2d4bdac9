"""Pages run the same number of queries with 1 row as with 50: nothing runs per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from audit.records import record
from federation import services
from federation.models import ApiToken
from tests.factories import MembershipFactory, TeamFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/Role{}"


def grants(world, rows):
    for i in rows:
        services.grant_role(
            actor=world.alice, tenant=world.tenant_a, user=world.bob, role_arn=ROLE.format(i)
        )


def audit_events(world, rows):
    for i in rows:
        record("console.issued", actor=world.bob, tenant=world.tenant_a, role_arn=ROLE.format(i))


def members(world, rows):
    for i in rows:
        MembershipFactory(user=UserFactory(username=f"member{i}"), tenant=world.tenant_a)


def teams(world, rows):
    for i in rows:
        TeamFactory(tenant=world.tenant_a, name=f"team{i}").members.add(world.bob)


def tenants(world, rows):
    for i in rows:
        tenant = TenantFactory(slug=f"t{i}", name=f"Tenant {i}")
        MembershipFactory(user=world.alice, tenant=tenant, role=Membership.Role.ADMIN)


def tokens(world, rows):
    for i in rows:
        ApiToken.issue(user=world.bob, name=f"laptop{i}", days=30)


def team_grants(world, rows):
    for i in rows:
        team = TeamFactory(tenant=world.tenant_a, name=f"squad{i}")
        team.members.add(world.bob)
        services.grant_role(
            actor=world.alice, tenant=world.tenant_a, team=team, role_arn=ROLE.format(i)
        )


PAGES = [
    ("bob", "/", grants),
    ("bob", "/", team_grants),
    ("alice", "/audit/", audit_events),
    ("alice", "/audit/export.csv", audit_events),
    ("alice", "/admin/accounts/user/", members),
    ("alice", "/admin/accounts/tenant/", tenants),
    ("alice", "/admin/accounts/membership/", members),
    ("alice", "/admin/accounts/team/", teams),
    ("alice", "/admin/federation/rolemapping/", grants),
    ("alice", "/admin/federation/rolemapping/", team_grants),
    ("alice", "/admin/audit/auditevent/", audit_events),
    ("alice", "/admin/federation/apitoken/", tokens),
]


def queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("person", "path", "make_rows"), PAGES, ids=[f"{p[1]}-{p[2].__name__}" for p in PAGES]
)
def test_it_runs_as_many_queries_for_50_rows_as_for_1(
    client, world, person, path, make_rows, django_assert_num_queries
):
    client.force_login(getattr(world, person))
    make_rows(world, range(1))
    client.get(path)  # the steady state: what the first request sets up is in the session
    with_one = queries(client, path)
    make_rows(world, range(1, 50))
    with django_assert_num_queries(with_one):
        response = client.get(path)
        body = (
            b"".join(response.streaming_content)
            if getattr(response, "streaming", False)
            else response.content
        )
    # The 50th row is on the page.
    assert b"49" in body
