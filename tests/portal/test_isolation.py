"""Tenant isolation, proven as a matrix rather than by examples.

Tenant B (Globex) is filled with one object of every kind, each carrying a marker. Then
tenant A's admin (alice) and member (bob) go through every registered admin model × every
admin page kind, plus `/audit/`, its CSV, the self-service page, issuance and the API:
no response may show a tenant-B marker, and no write may touch a tenant-B object.
A meta-test fails for any admin model that does not declare its scoping, or that this
matrix does not cover.
"""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.cache import cache

from access.models import AccessRequest, Decision, NotificationChannel, SessionCutoff
from access.services import file_request
from accounts.models import (
    ExternalIdentity,
    IdentityProvider,
    Membership,
    SignInDomain,
    Team,
    Tenant,
    User,
)
from audit.models import AuditEvent, AuditSink
from audit.records import RequestMeta, record
from core.admin_scoping import OperatorsOnlyMixin, TenantScopedAdmin, TenantScopedInline
from federation import services
from federation.models import ApiToken, AwsAccount, RoleMapping
from tests.accounts.conftest import TokenProvider
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

# Case-sensitive, as stored: probes search in upper case, so an echoed query is no "leak".
MARKERS = ["globex", "Globex", "carol", "gertrude", "root-op", "222222222222"]
GLOBEX_ROLE = "arn:aws:iam::222222222222:role/GlobexAdmin"
PROBE_ROLE = "arn:aws:iam::333333333333:role/Probe"

TENANT_MODELS = [
    model for model, model_admin in admin.site._registry.items() if model_admin.scope == "tenant"
]
OPERATOR_MODELS = [
    model for model, model_admin in admin.site._registry.items() if model_admin.scope == "operators"
]


def url(model, view="changelist", *args):
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def leaks(response):
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    text = body.decode(errors="replace")
    return [marker for marker in MARKERS if marker in text]


@pytest.fixture
def globex(world):
    """One tenant-B object of every kind, and a platform operator tenant admins must not see."""
    b = world.tenant_b
    gertrude = UserFactory(username="gertrude")
    gertrude_membership = MembershipFactory(user=gertrude, tenant=b, role="admin")
    team = TeamFactory(tenant=b, name="globex-team")
    team.members.add(world.carol)
    grant = services.grant_role(
        actor=gertrude, tenant=b, user=world.carol, role_arn=GLOBEX_ROLE, label="Globex admin"
    )
    token, _ = ApiToken.issue(user=world.carol, name="globex-laptop", days=30)
    operator = UserFactory(username="root-op", is_staff=True, is_superuser=True)
    record("console.issued", actor=world.carol, mapping=grant, detail="globex marker")
    on_request = services.grant_role(
        actor=gertrude,
        tenant=b,
        user=world.carol,
        role_arn=GLOBEX_ROLE,
        label="Globex break-glass",
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[gertrude],
        break_glass=True,
    )
    access = file_request(
        user=world.carol,
        grant_id=on_request.pk,
        seconds=3600,
        justification="globex incident 42",
        break_glass=True,
        meta=RequestMeta(),
    )
    # Shown inside the request's page (an inline), which is tenant B's alone.
    Decision.objects.create(
        request=access, approver=gertrude, approver_username="gertrude", outcome="approve"
    )
    cutoff = SessionCutoff.objects.create(
        tenant=b,
        request=access,
        role_arn=GLOBEX_ROLE,
        sid="EndedCarol1T20261125T101500",
        source_identity="carol",
        issued_before=access.activated_at,
        keep_until=access.ends_at,
    )
    channel = NotificationChannel.objects.create(
        tenant=b, name="globex-alerts", kind="slack", url="https://hooks.example.com/globex"
    )
    provider = IdentityProvider(
        tenant=b, issuer="https://globex.idp.example", client_id="globex-client"
    )
    provider.set_client_secret("globex-client-secret")
    provider.save()
    SignInDomain.objects.create(provider=provider, domain="globex.example")
    ExternalIdentity.objects.create(tenant=b, user=world.carol, subject="carol-at-globex")
    account = AwsAccount.objects.create(tenant=b, account_id="222222222222", name="globex-prod")
    sink = AuditSink.objects.create(
        tenant=b, name="globex-siem", kind="https_json", destination="https://siem.globex.example/"
    )
    # The operator's sink receives every tenant's records: no tenant admin may see it.
    AuditSink.objects.create(name="root-op-siem", kind="syslog_tls", destination="10.0.0.5:6514")
    return {
        User: world.carol,
        Tenant: b,
        IdentityProvider: provider,
        AwsAccount: account,
        Membership: gertrude_membership,
        Team: team,
        RoleMapping: grant,
        AuditEvent: AuditEvent.objects.filter(tenant=b).first(),
        ApiToken: token,
        AccessRequest: access,
        SessionCutoff: cutoff,
        NotificationChannel: channel,
        AuditSink: sink,
        "operator": operator,
    }


@pytest.fixture
def as_alice(client, world, globex):
    TeamFactory(tenant=world.tenant_a, name="acme-team").members.add(world.bob)
    client.force_login(world.alice)
    return client


def snapshot(model):
    return sorted(json.dumps(row, default=str) for row in model._default_manager.values())


# --- the meta-test ------------------------------------------------------------------------


def test_every_admin_model_declares_its_scoping():
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        scope = getattr(model_admin, "scope", None)
        ok = (scope == "tenant" and isinstance(model_admin, TenantScopedAdmin)) or (
            scope == "operators" and isinstance(model_admin, OperatorsOnlyMixin)
        )
        undeclared += [] if ok else [model._meta.label]
        # An operators-only page's inlines are as closed as the page itself.
        for inline in model_admin.inlines if scope == "tenant" else []:
            if not issubclass(inline, TenantScopedInline):
                undeclared.append(f"{model._meta.label} inline {inline.__name__}")
    assert undeclared == []


def test_the_matrix_covers_every_tenant_model(globex):
    assert set(TENANT_MODELS) == {key for key in globex if key != "operator"}


# --- admin pages --------------------------------------------------------------------------


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_changelists_searches_filters_and_popups_show_no_other_tenant(as_alice, globex, model):
    listing = as_alice.get(url(model))
    assert listing.status_code == 200
    assert leaks(listing) == []
    for query in [
        {"q": "GLOBEX"},
        {"q": "CAROL"},
        {"tenant__id__exact": globex[Tenant].pk},
        {"user__id__exact": globex[User].pk},
        {"_popup": "1", "_to_field": "id"},
    ]:
        response = as_alice.get(url(model), query)
        assert response.status_code in {200, 302}
        assert leaks(response) == [], query


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_another_tenants_object_is_not_found_on_any_page(as_alice, globex, model):
    obj = globex[model]
    before = snapshot(model)
    for view in ["change", "history", "delete"]:
        response = as_alice.get(url(model, view, obj.pk))
        assert response.status_code in {403, 404}, view
        assert leaks(response) == []
    assert as_alice.post(url(model, "change", obj.pk), {}).status_code in {403, 404}
    assert as_alice.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code in {403, 404}
    assert snapshot(model) == before


def test_the_operator_is_invisible_to_tenant_admins(as_alice, globex):
    operator = globex["operator"]
    assert as_alice.get(url(User, "change", operator.pk)).status_code == 404
    assert as_alice.get(f"/admin/accounts/user/{operator.pk}/password/").status_code == 404
    assert b"root-op" not in as_alice.get(url(User), {"q": "ROOT"}).content
    # And so is the operator's audit sink.
    sink = AuditSink.rows.get(tenant=None)
    for view in ["change", "history", "delete"]:
        assert as_alice.get(url(AuditSink, view, sink.pk)).status_code == 404
    assert b"root-op" not in as_alice.get(url(AuditSink), {"q": "ROOT"}).content


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_add_pages_offer_no_other_tenant(as_alice, globex, model):
    response = as_alice.get(url(model, "add"))
    assert response.status_code in {200, 403}
    assert leaks(response) == []


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_actions_on_another_tenants_ids_change_nothing(as_alice, globex, model):
    obj = globex[model]
    model_admin = admin.site._registry[model]
    names = list(model_admin.actions or []) + ["delete_selected"]
    before = snapshot(model)
    for name in names:
        response = as_alice.post(
            url(model), {"action": name, "_selected_action": [obj.pk], "post": "yes"}
        )
        assert response.status_code in {200, 302, 403}
        assert leaks(response) == []
    assert snapshot(model) == before
    assert not AuditEvent.objects.filter(action__startswith="sessions.").exists()


@pytest.fixture
def an_issuer(settings):
    """A provider on loopback whose discovery the portal accepts (plain http: DEBUG on)."""
    settings.DEBUG = True
    cache.clear()
    provider = TokenProvider()
    yield provider.issuer
    provider.close()


def test_writes_naming_another_tenant_are_refused(as_alice, world, globex, an_issuer):
    b, carol, team_b = globex[Tenant], globex[User], globex[Team]
    # Globex gets a provider of its own below, at an issuer that would be accepted: only
    # the scoping of the tenant field may refuse it (not its existing one, not the issuer).
    globex[IdentityProvider].delete()
    counts = {model: model._default_manager.count() for model in TENANT_MODELS}
    attempts = [
        (
            User,
            {
                "username": "mallory",
                "password1": "Long-pass-123!",
                "password2": "Long-pass-123!",
                "tenant": b.pk,
                "role": "admin",
            },
        ),
        (Membership, {"user": world.bob.pk, "tenant": b.pk, "role": "admin"}),
        (Membership, {"user": carol.pk, "tenant": world.tenant_a.pk, "role": "member"}),
        (Team, {"tenant": b.pk, "name": "inside-job"}),
        (Team, {"tenant": world.tenant_a.pk, "name": "poachers", "members": [carol.pk]}),
        (
            RoleMapping,
            {
                "tenant": b.pk,
                "role_arn": PROBE_ROLE,
                "users": [carol.pk],
                "destination_path": "/console/home",
            },
        ),
        (
            RoleMapping,
            {
                "tenant": world.tenant_a.pk,
                "role_arn": PROBE_ROLE,
                "users": [carol.pk],
                "destination_path": "/console/home",
            },
        ),
        (
            RoleMapping,
            {
                "tenant": world.tenant_a.pk,
                "role_arn": PROBE_ROLE,
                "teams": [team_b.pk],
                "destination_path": "/console/home",
            },
        ),
        (Tenant, {"slug": "evil", "name": "Evil", "max_session_seconds": 3600}),
        (AuditEvent, {"action": "console.issued", "tenant": b.pk}),
        (ApiToken, {"name": "x", "user": carol.pk}),
        (
            AuditSink,
            {
                "tenant": b.pk,
                "name": "hijack",
                "kind": "https_json",
                "destination": "https://8.8.8.8/",
                "active": "on",
                "start": "first",
            },
        ),
        # No tenant: the operator's sink, which would receive every tenant's records.
        (
            AuditSink,
            {
                "tenant": "",
                "name": "hijack",
                "kind": "https_json",
                "destination": "https://8.8.8.8/",
                "active": "on",
                "start": "first",
            },
        ),
        (
            IdentityProvider,
            {
                "tenant": b.pk,
                "issuer": an_issuer,
                "client_id": "hijack",
                "client_secret": "x",
                "domains": "evil.example",
            },
        ),
    ]
    for model, data in attempts:
        response = as_alice.post(url(model, "add"), data)
        assert response.status_code in {200, 403}, (model, data)
        assert leaks(response) == [], (model, data)
    assert {model: model._default_manager.count() for model in TENANT_MODELS} == counts


def test_a_tenant_admin_cannot_escalate_or_move_things(as_alice, world, globex):
    bob = world.bob
    page = as_alice.get(url(User, "change", bob.pk)).content.decode()
    for field in ["is_superuser", "is_staff", "groups", "user_permissions"]:
        assert f'name="{field}"' not in page
    membership = Membership.objects.get(user=bob)
    response = as_alice.post(
        url(User, "change", bob.pk),
        {
            "first_name": "Bob",
            "last_name": "",
            "email": "bob@example.com",
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [Group.objects.create(name="admins").pk],
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": membership.pk,
            "memberships-0-user": bob.pk,
            "memberships-0-tenant": globex[Tenant].pk,
            "memberships-0-role": "member",
        },
    )
    assert response.status_code in {200, 302}
    bob.refresh_from_db()
    membership.refresh_from_db()
    assert not bob.is_superuser and not bob.is_staff and not bob.groups.exists()
    assert membership.tenant == world.tenant_a
    # A grant stays in its tenant.
    grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, user=bob, role_arn=PROBE_ROLE
    )
    as_alice.post(url(RoleMapping, "change", grant.pk), {"tenant": globex[Tenant].pk})
    grant.refresh_from_db()
    assert grant.tenant == world.tenant_a


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (model, field)
        for model, model_admin in admin.site._registry.items()
        for field in model_admin.autocomplete_fields
    ]
    + [(Membership, "user"), (Membership, "tenant")],
    ids=lambda value: value if isinstance(value, str) else value._meta.label,
)
def test_autocomplete_offers_no_other_tenant(as_alice, globex, model, field):
    for term in ["", "GLOB", "CAR", "GER", "ROOT"]:
        response = as_alice.get(
            "/admin/autocomplete/",
            {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field,
                "term": term,
            },
        )
        assert response.status_code == 200
        assert leaks(response) == [], term
        assert response.json()["results"] or term


@pytest.mark.parametrize("model", OPERATOR_MODELS, ids=lambda m: m._meta.label)
def test_platform_records_are_for_operators_only(as_alice, globex, model):
    assert as_alice.get(url(model)).status_code == 403
    assert as_alice.get(url(model, "add")).status_code == 403


def test_the_admin_index_lists_only_what_a_tenant_admin_may_use(as_alice):
    page = as_alice.get("/admin/").content.decode()
    assert "Grants" in page and "Audit events" in page
    assert "Groups" not in page and "Access attempts" not in page


def test_members_and_staff_without_a_tenant_get_no_admin(client, world, globex):
    stan = UserFactory(username="stan", is_staff=True)
    MembershipFactory(user=stan, tenant=world.tenant_a)
    for person in [world.bob, stan]:
        client.force_login(person)
        for model in TENANT_MODELS:
            response = client.get(url(model))
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")


# --- the portal's own pages -----------------------------------------------------------------


def test_the_audit_trail_and_its_export_show_no_other_tenant(as_alice, globex):
    assert leaks(as_alice.get("/audit/")) == []
    assert leaks(as_alice.get("/audit/export.csv")) == []
    assert leaks(as_alice.get("/audit/", {"tenant": globex[Tenant].pk})) == []
    assert leaks(as_alice.get("/audit/", {"user": "CAROL"})) == []
    # A record's own page: another tenant's is not found, whatever its id.
    theirs = as_alice.get(f"/audit/{globex[AuditEvent].pk}/")
    assert theirs.status_code == 404 and leaks(theirs) == []


@pytest.mark.parametrize("person", ["alice", "bob"])
def test_self_service_issuance_and_api_show_no_other_tenant(client, world, globex, person):
    user = getattr(world, person)
    client.force_login(user)
    assert leaks(client.get("/")) == []
    grant = globex[RoleMapping]
    for path in [f"/console/{grant.pk}/", f"/cli/{grant.pk}/"]:
        response = client.post(path, {"duration": "", "destination": "", "region": ""})
        assert response.status_code == 404
        assert leaks(response) == []
    _, plain = ApiToken.issue(user=user, name="laptop", days=30)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    assert leaks(client.get("/api/v1/roles", **auth)) == []
    response = client.post(f"/api/v1/credentials/{grant.pk}", **auth)
    assert response.status_code == 404
    assert leaks(response) == []
    assert not AuditEvent.objects.filter(action__endswith=".issued", actor=user).exists()
