"""A tenant admin runs their own people, teams and tenant settings in the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import IdentityProvider, Membership, Team, Tenant, User
from accounts.provisioning import sync_teams
from audit.models import AuditEvent
from audit.records import RequestMeta
from federation import services
from federation.models import RoleMapping
from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Long-and-new-passw0rd"


@pytest.fixture
def as_alice(client, world):
    client.force_login(world.alice)
    return client


def test_it_lists_the_people_of_my_tenant(as_alice, world):
    page = as_alice.get("/admin/accounts/user/").content.decode()
    assert "bob" in page and "alice" in page
    assert "carol" not in page


def test_it_adds_a_person_straight_into_my_tenant(as_alice, world, client):
    response = as_alice.post(
        "/admin/accounts/user/add/",
        {
            "username": "erin",
            "email": "erin@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
            "tenant": world.tenant_a.pk,
            "role": "member",
        },
    )
    assert response.status_code == 302, response.content.decode()
    erin = User.objects.get(username="erin")
    assert list(erin.memberships.values_list("tenant__slug", "role")) == [("acme", "member")]
    assert not erin.is_staff and not erin.is_superuser
    # The new person is one of mine: I land on their page, not on a 404.
    assert as_alice.get(response["Location"]).status_code == 200
    client.logout()
    assert client.post("/login/", {"username": "erin", "password": NEW_PASSWORD}).status_code == 302


def test_it_refuses_a_username_that_differs_only_in_case(as_alice, world):
    response = as_alice.post(
        "/admin/accounts/user/add/",
        {
            "username": "BOB",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
            "tenant": world.tenant_a.pk,
            "role": "member",
        },
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert User.objects.filter(username__iexact="bob").count() == 1


def test_it_edits_my_own_people_but_not_those_shared_with_another_tenant(as_alice, world):
    data = {"first_name": "Robert", "last_name": "", "email": "bob@example.com"}
    data.update(
        {
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        }
    )
    # The inline's management form counts the rows I can see.
    data["memberships-TOTAL_FORMS"] = data["memberships-INITIAL_FORMS"] = "1"
    membership = Membership.objects.get(user=world.bob)
    data.update(
        {
            "memberships-0-id": membership.pk,
            "memberships-0-user": world.bob.pk,
            "memberships-0-role": "member",
        }
    )
    response = as_alice.post(f"/admin/accounts/user/{world.bob.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()
    world.bob.refresh_from_db()
    assert world.bob.first_name == "Robert"

    MembershipFactory(user=world.bob, tenant=world.tenant_b)
    page = as_alice.get(f"/admin/accounts/user/{world.bob.pk}/change/")
    assert page.status_code == 200
    assert b'name="first_name"' not in page.content  # view only
    assert b"Globex" not in page.content  # the other membership stays out of sight
    data["first_name"] = "Mallory"
    assert as_alice.post(f"/admin/accounts/user/{world.bob.pk}/change/", data).status_code == 403
    assert as_alice.get(f"/admin/accounts/user/{world.bob.pk}/password/").status_code == 403
    world.bob.refresh_from_db()
    assert world.bob.first_name == "Robert"


def test_it_cannot_delete_people_only_memberships(as_alice, world):
    assert as_alice.get(f"/admin/accounts/user/{world.bob.pk}/delete/").status_code == 403
    membership = Membership.objects.get(user=world.bob)
    response = as_alice.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert User.objects.filter(pk=world.bob.pk).exists()
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_making_someone_admin_opens_the_admin_site_to_them(as_alice, world, client):
    membership = Membership.objects.get(user=world.bob)
    response = as_alice.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": world.bob.pk, "role": "admin"},
    )
    assert response.status_code == 302, response.content.decode()
    world.bob.refresh_from_db()
    assert world.bob.is_staff
    client.force_login(world.bob)
    assert client.get("/admin/federation/rolemapping/").status_code == 200


def test_it_adjusts_my_tenant_but_not_its_identity_and_creates_no_tenants(as_alice, world):
    tenant = world.tenant_a
    response = as_alice.post(
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        {
            "name": "Acme Corp",
            "slug": "hijacked",
            "active": "",
            "max_session_seconds": "7200",
            "send_source_identity": "on",
            "time_zone": "Europe/Berlin",
            "administration_role_name": "ops/PortcullisAdministration",
            "management_account_id": "333333333333",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert (tenant.name, tenant.max_session_seconds) == ("Acme Corp", 7200)
    assert tenant.time_zone == "Europe/Berlin"
    assert tenant.administration_role_name == "ops/PortcullisAdministration"
    assert tenant.management_account_id == "333333333333"
    assert (tenant.slug, tenant.active) == ("acme", True)
    assert as_alice.get("/admin/accounts/tenant/add/").status_code == 403
    assert as_alice.get(f"/admin/accounts/tenant/{tenant.pk}/delete/").status_code == 403


def test_a_tenant_keeps_a_time_zone_that_exists(world):
    world.tenant_a.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="not a time zone"):
        world.tenant_a.full_clean()


@pytest.mark.parametrize("name", ["arn:aws:iam::123456789012:role/Admin", "two words", "a" * 65])
def test_an_administration_role_is_named_as_iam_names_roles(world, name):
    world.tenant_a.administration_role_name = name
    with pytest.raises(ValidationError, match="A role name such as PortcullisAdministration"):
        world.tenant_a.full_clean()
    assert Tenant.objects.get(pk=world.tenant_b.pk).time_zone == "UTC"


def test_it_keeps_teams_to_members_of_their_tenant(as_alice, world, client):
    response = as_alice.post(
        "/admin/accounts/team/add/",
        {"tenant": world.tenant_a.pk, "name": "platform", "members": [world.bob.pk]},
    )
    assert response.status_code == 302
    assert list(Team.objects.get(name="platform").members.all()) == [world.bob]
    # Even an operator, who can pick anyone, cannot put an outsider in a tenant's team.
    client.force_login(UserFactory(username="op", is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/accounts/team/add/",
        {"tenant": world.tenant_a.pk, "name": "mixed", "members": [world.carol.pk]},
    )
    assert response.status_code == 200
    assert b"Not members of Acme: carol." in response.content
    assert not Team.objects.filter(name="mixed").exists()


@pytest.fixture
def managed_team(world):
    """Admins, managed by the identity provider: Dave joined it through his groups."""
    team = TeamFactory(tenant=world.tenant_a, name="Admins", provider_group="aws-admins")
    dave = UserFactory(username="dave")
    MembershipFactory(user=dave, tenant=world.tenant_a)
    provider = IdentityProvider(tenant=world.tenant_a, issuer="https://idp.acme.example")
    sync_teams(provider, dave, {"aws-admins"}, meta=RequestMeta())
    assert list(team.members.all()) == [dave]
    return team


def test_the_members_of_a_team_managed_by_the_provider_are_shown_not_edited(
    as_alice, world, managed_team
):
    change = f"/admin/accounts/team/{managed_team.pk}/change/"
    page = as_alice.get(change).content.decode()
    assert 'name="members"' not in page
    assert "dave" in page and "Set by the identity provider" in page

    # A password user slipped into the form is not added; the rest of the change is saved.
    response = as_alice.post(
        change,
        {
            "tenant": world.tenant_a.pk,
            "name": "AWS admins",
            "provider_group": "aws-admins",
            "members": [world.bob.pk],
        },
    )

    assert response.status_code == 302
    managed_team.refresh_from_db()
    assert managed_team.name == "AWS admins"
    assert [member.username for member in managed_team.members.all()] == ["dave"]
    assert not RoleMapping.objects.granted_to(world.bob).exists()


def test_a_team_is_handed_to_the_provider_only_without_hand_picked_members(as_alice, world):
    new = as_alice.post(
        "/admin/accounts/team/add/",
        {
            "tenant": world.tenant_a.pk,
            "name": "Admins",
            "provider_group": "aws-admins",
            "members": [world.bob.pk],
        },
    )
    assert new.status_code == 200
    assert b"takes its members from the provider&#x27;s group" in new.content
    assert not Team.objects.filter(name="Admins").exists()

    team = TeamFactory(tenant=world.tenant_a, name="On call")
    team.members.add(world.bob)
    change = f"/admin/accounts/team/{team.pk}/change/"
    handed_over = {"tenant": world.tenant_a.pk, "name": "On call", "provider_group": "oncall"}

    kept = as_alice.post(change, {**handed_over, "members": [world.bob.pk]})
    assert kept.status_code == 200
    team.refresh_from_db()
    assert team.provider_group == ""

    assert as_alice.post(change, handed_over).status_code == 302
    team.refresh_from_db()
    assert team.provider_group == "oncall" and not team.members.exists()


def test_nobody_is_added_to_a_managed_team_but_by_the_provider(world, managed_team):
    for add_bob in [
        lambda: managed_team.members.add(world.bob),
        lambda: world.bob.teams.add(managed_team),
    ]:
        refused = pytest.raises(ValidationError, match="come from the identity provider")
        with refused, transaction.atomic():
            add_bob()
    assert [member.username for member in managed_team.members.all()] == ["dave"]


def test_deleting_a_team_ends_its_grants_on_the_record(as_alice, world):
    team = TeamFactory(tenant=world.tenant_a, name="ops")
    team.members.add(world.bob)
    grant = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        team=team,
        role_arn="arn:aws:iam::123456789012:role/Ops",
    )
    response = as_alice.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not RoleMapping.objects.filter(pk=grant.pk).exists()
    revoked = AuditEvent.objects.get(action="mapping.revoked")
    assert (revoked.mapping_id, revoked.actor_username) == (grant.pk, "alice")


def test_an_operator_sees_and_manages_everything(client, world):
    operator = UserFactory(username="op", is_staff=True, is_superuser=True)
    client.force_login(operator)
    page = client.get("/admin/accounts/user/").content.decode()
    assert "carol" in page and "bob" in page
    response = client.post(
        "/admin/accounts/tenant/add/",
        {
            "name": "Initech",
            "slug": "initech",
            "active": "on",
            "max_session_seconds": "3600",
            "time_zone": "UTC",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert Tenant.objects.filter(slug="initech").exists()
    assert (
        b'name="is_superuser"' in client.get(f"/admin/accounts/user/{world.bob.pk}/change/").content
    )


def test_the_portal_links_admins_to_the_admin_and_the_trail(client, world):
    client.force_login(world.alice)
    page = client.get("/").content.decode()
    assert 'href="/audit/"' in page and 'href="/admin/"' in page
    client.force_login(world.bob)
    page = client.get("/").content.decode()
    assert 'href="/audit/"' not in page and 'href="/admin/"' not in page
    assert PASSWORD not in page


def test_the_tenant_page_offers_current_zone_names_and_keeps_an_old_one_it_has(as_alice, world):
    change = f"/admin/accounts/tenant/{world.tenant_a.pk}/change/"
    offered = as_alice.get(change).content.decode()
    assert '<option value="Africa/Asmara">' in offered
    assert '<option value="Africa/Asmera">' not in offered

    Tenant.objects.filter(pk=world.tenant_a.pk).update(time_zone="Asia/Calcutta")
    kept = as_alice.get(change).content.decode()
    assert '<option value="Asia/Calcutta" selected>' in kept
