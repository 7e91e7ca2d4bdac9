"""Issuance is rate-limited per person and per tenant; one tenant's burst spares the others."""

import environ
import pytest
import redis
from django.core.cache import caches

from audit.models import AuditEvent
from core import ratelimit
from federation import services
from federation.models import ApiToken
from tests.conftest import READ_ONLY_POLICY
from tests.factories import MembershipFactory, UserFactory
from tests.federation.helpers import open_console

pytestmark = pytest.mark.django_db


def sts_calls(sandbox):
    return sandbox.calls["sts:AssumeRole"]


def test_it_limits_one_person(client, world, bob_grant, sandbox, settings):
    settings.ISSUE_LIMIT_PER_USER = 3
    client.force_login(world.bob)
    assert [open_console(client, bob_grant).status_code for _ in range(3)] == [200] * 3
    refused = [open_console(client, bob_grant) for _ in range(3)]
    assert {r.status_code for r in refused} == {429}
    assert b"Too many sessions asked for by you" in refused[0].content
    assert 0 < int(refused[0]["Retry-After"]) <= settings.ISSUE_LIMIT_WINDOW_SECONDS + 1
    assert sts_calls(sandbox) == 3
    # One record for the burst, not one per refusal.
    denied = AuditEvent.objects.filter(action="console.denied", error_code="RateLimited")
    assert denied.count() == 1
    # The API counts against the same limit.
    _, plain = ApiToken.issue(user=world.bob, name="laptop", days=30)
    response = client.post(
        f"/api/v1/credentials/{bob_grant.pk}", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )
    assert response.status_code == 429
    assert response.json()["error"].startswith("Too many sessions")


def test_a_burst_in_one_tenant_leaves_another_untouched(
    client, world, bob_grant, sandbox, settings
):
    settings.ISSUE_LIMIT_PER_TENANT = 4
    dave = UserFactory(username="dave")
    MembershipFactory(user=dave, tenant=world.tenant_a)
    dave_grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, user=dave, role_arn=bob_grant.role_arn
    )
    globex_role = services.create_broker_role(
        name="GlobexAdmin", tenant=world.tenant_b, policy_document=READ_ONLY_POLICY
    )
    carol_grant = services.grant_role(
        actor=world.carol, tenant=world.tenant_b, user=world.carol, role_arn=globex_role
    )
    statuses = []
    for person, grant in [(world.bob, bob_grant), (dave, dave_grant)] * 4:
        client.force_login(person)
        statuses.append(open_console(client, grant).status_code)
    assert statuses.count(200) == 4 and statuses.count(429) == 4
    client.force_login(world.bob)
    assert b"by your tenant" in open_console(client, bob_grant).content
    client.force_login(world.carol)
    assert open_console(client, carol_grant).status_code == 200


def test_workers_share_the_count_through_redis(settings):
    """With CACHE_URL=redis://… every worker counts against the same limit."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {"default": environ.Env.cache_url_config("redis://127.0.0.1:6379/15")}
    caches["default"].clear()
    key = "test:shared"
    results = [ratelimit.hit(key, limit=2, window=60)[0] for _ in range(3)]
    assert results == [True, True, False]
    # Another process sees the same count: read it straight from Redis.
    client = redis.Redis(host="127.0.0.1", port=6379, db=15)
    assert any(b"ratelimit:test:shared" in name for name in client.keys("*"))
    caches["default"].clear()
