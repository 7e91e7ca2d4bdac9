"""The one scoping door fails closed: in a request, a tenant-owned model read without
for_user() is an error, not every tenant's rows."""

import pytest
from django.contrib import admin
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Tenant, User
from core.scoping import (
    ScopingMiddleware,
    TenantScopedQuerySet,
    UnscopedQuery,
    strict_scoping,
    tenant_ids,
)
from federation import services
from federation.models import RoleMapping

pytestmark = pytest.mark.django_db

# Every model the admin scopes to tenants, but the person itself (the auth model, which
# Django's sign-in reads by primary key before anyone is known).
GUARDED = [
    model
    for model, model_admin in admin.site._registry.items()
    if model_admin.scope == "tenant" and model is not User
]


def test_the_guarded_models_are_the_tenant_owned_ones():
    labels = {model._meta.label for model in GUARDED}
    assert labels == {
        "accounts.Tenant",
        "accounts.Membership",
        "accounts.Team",
        "accounts.IdentityProvider",
        "audit.AuditEvent",
        "audit.AuditSink",
        "federation.RoleMapping",
        "access.AccessRequest",
        "access.SessionCutoff",
        "access.NotificationChannel",
        "federation.ApiToken",
        "federation.AwsAccount",
    }


@pytest.mark.parametrize("model", GUARDED, ids=lambda m: m._meta.label)
def test_every_tenant_model_reads_through_the_guarded_door(model, world):
    assert isinstance(model.objects.all(), TenantScopedQuerySet)
    # Django's own machinery (admin base querysets, unique checks) reads through `rows`.
    assert model._meta.default_manager.name == "rows"
    with strict_scoping():
        for read in [
            lambda: list(model.objects.all()),
            lambda: model.objects.count(),
            lambda: model.objects.exists(),
            lambda: model.objects.filter(pk=1).first(),
            lambda: list(model.objects.values_list("pk", flat=True)),
        ]:
            with pytest.raises(UnscopedQuery, match=model.__name__):
                read()
        model.objects.for_user(world.alice).count()
        model.objects.unscoped("a test that says why").count()
        model._default_manager.count()
    # Outside a request (commands, migrations, the shell) nothing is guarded.
    model.objects.count()


def test_a_view_that_forgets_to_scope_fails_instead_of_showing_every_tenant(
    client, world, bob_grant, monkeypatch
):
    def every_grant(user):  # what a careless change to the service might do
        return RoleMapping.objects.select_related("tenant", "team")

    monkeypatch.setattr(services, "usable_grants", every_grant)
    client.force_login(world.carol)
    with pytest.raises(UnscopedQuery, match="RoleMapping"):
        client.get("/")


def test_for_user_knows_two_actions(world):
    assert tenant_ids(world.alice, action="manage") == [world.tenant_a.pk]
    assert tenant_ids(world.bob, action="manage") == []
    assert tenant_ids(world.bob, action="view") == [world.tenant_a.pk]
    with pytest.raises(ValueError, match="action"):
        Tenant.objects.for_user(world.bob, action="delete")


def test_a_request_reads_a_persons_memberships_once(client, world, bob_grant):
    """The roles page asks the door several times (the grants, the navigation, the account
    names): which tenants the person is in is read from the database once."""
    client.force_login(world.bob)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    reads = [
        q["sql"]
        for q in captured
        if q["sql"].startswith('SELECT "accounts_membership"."tenant_id"')
        and 'FROM "accounts_membership"' in q["sql"]
    ]
    assert len(reads) == 1, reads


def test_a_membership_changed_while_a_request_is_served_counts_at_once(world):
    """The request's memo of memberships is forgotten the moment one is saved or deleted:
    the door never answers from what someone belonged to a moment ago."""
    seen = []

    def view(request):
        seen.append(tenant_ids(world.bob))
        joined = Membership.objects.create(user=world.bob, tenant=world.tenant_b)
        seen.append(tenant_ids(world.bob))
        joined.role = Membership.Role.ADMIN
        joined.save()
        seen.append(tenant_ids(world.bob, action="manage"))
        joined.delete()
        seen.append(tenant_ids(world.bob))
        Membership.rows.filter(user=world.bob).delete()
        seen.append(tenant_ids(world.bob))
        return HttpResponse()

    ScopingMiddleware(view)(None)
    a, b = world.tenant_a.pk, world.tenant_b.pk
    assert [sorted(ids) for ids in seen] == [[a], sorted([a, b]), [b], [a], []]
