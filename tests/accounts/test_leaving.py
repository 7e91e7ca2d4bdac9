"""Leaving a tenant leaves its access, and every change to people, memberships and teams is
a record in the trail of the tenant it concerns (made in the admin, so with its actor)."""

import re

import pytest

from accounts.models import Membership, Team
from audit.models import AuditEvent
from federation.models import RoleMapping
from tests.conftest import PASSWORD, Client
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def records(action, **filters):
    return AuditEvent.objects.filter(action=action, **filters)


@pytest.fixture
def as_alice(client, world):
    client.force_login(world.alice)
    return client


@pytest.fixture
def operator_client():
    client = Client()
    client.force_login(UserFactory(username="root-op", is_staff=True, is_superuser=True))
    return client


def delete_membership(client, membership):
    return client.post(
        f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"}, follow=False
    )


def test_removing_a_membership_ends_the_persons_grants_and_teams_there(as_alice, world, bob_grant):
    team = TeamFactory(tenant=world.tenant_a, name="ops")
    team.members.add(world.bob)
    team_grant = RoleMapping.objects.create(
        tenant=world.tenant_a, team=team, role_arn=bob_grant.role_arn, label="Ops"
    )
    membership = Membership.objects.get(user=world.bob, tenant=world.tenant_a)
    assert delete_membership(as_alice, membership).status_code == 302

    bob_grant.refresh_from_db()
    assert not bob_grant.active
    assert not team.members.filter(pk=world.bob.pk).exists()
    removed = records("membership.removed").get()
    assert removed.tenant == world.tenant_a and removed.actor == world.alice
    assert records("mapping.revoked", mapping_id=bob_grant.pk, actor=world.alice).exists()
    assert records("team.changed", detail="bob removed from team ops").exists()

    # Added back: nothing comes back by itself.
    MembershipFactory(user=world.bob, tenant=world.tenant_a)
    assert not RoleMapping.objects.usable_by(world.bob).exists()
    team_grant.refresh_from_db()
    assert team_grant.active  # the team keeps its grant; bob is simply not in the team
    assert records("membership.added", detail="bob joined as member").count() == 2


def test_switching_a_person_off_and_on_is_in_their_tenants_trail(as_alice, world):
    page = as_alice.get(f"/admin/accounts/user/{world.bob.pk}/change/")
    assert page.status_code == 200
    membership = Membership.objects.get(user=world.bob)
    form = {
        "first_name": "",
        "last_name": "",
        "email": "bob@example.com",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk,
        "memberships-0-user": world.bob.pk,
        "memberships-0-role": "member",
    }
    assert as_alice.post(f"/admin/accounts/user/{world.bob.pk}/change/", form).status_code == 302
    off = records("user.deactivated").get()
    assert off.tenant == world.tenant_a and off.actor == world.alice
    form["is_active"] = "on"
    as_alice.post(f"/admin/accounts/user/{world.bob.pk}/change/", form)
    assert records("user.reactivated", tenant=world.tenant_a, actor=world.alice).exists()


def test_a_password_reset_by_an_admin_is_recorded(as_alice, world):
    response = as_alice.post(
        f"/admin/accounts/user/{world.bob.pk}/password/",
        {"password1": "another long pass phrase", "password2": "another long pass phrase"},
    )
    assert response.status_code == 302
    reset = records("user.password_reset").get()
    assert reset.tenant == world.tenant_a and reset.actor == world.alice
    assert "reset by someone else" in reset.detail


def test_membership_and_team_changes_are_recorded(as_alice, world):
    newbie = UserFactory(username="newbie")
    MembershipFactory(user=newbie, tenant=world.tenant_a)
    membership = Membership.objects.get(user=newbie)
    membership.role = Membership.Role.ADMIN
    membership.save()
    assert records("membership.changed", detail="newbie is now admin (was member)").exists()
    response = as_alice.post(
        "/admin/accounts/team/add/",
        {"tenant": world.tenant_a.pk, "name": "ops", "members": [world.bob.pk, newbie.pk]},
    )
    assert response.status_code == 302
    assert records("team.created", tenant=world.tenant_a, actor=world.alice).exists()
    added = records("team.changed", tenant=world.tenant_a).values_list("detail", flat=True)
    assert set(added) == {"bob added to team ops", "newbie added to team ops"}


def test_a_tenant_admin_adds_a_membership_on_a_persons_page_but_moves_none(as_alice, world):
    other = MembershipFactory(user=UserFactory(username="solo"), tenant=world.tenant_a)
    person = other.user
    form = {
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": other.pk,
        "memberships-0-user": person.pk,
        "memberships-0-tenant": world.tenant_b.pk,  # an attempt to move it to Globex
        "memberships-0-role": "admin",
    }
    response = as_alice.post(f"/admin/accounts/user/{person.pk}/change/", form)
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.tenant == world.tenant_a and other.role == "admin"


def test_tenant_admins_see_that_an_operator_changed_something_but_not_who(
    operator_client, as_alice, world
):
    operator_client.post(
        f"/admin/accounts/tenant/{world.tenant_a.pk}/change/",
        {
            "name": "Acme Corp",
            "slug": "acme",
            "max_session_seconds": 43200,
            "send_source_identity": "on",
            "active": "on",
            "time_zone": "UTC",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    history = as_alice.get(f"/admin/accounts/tenant/{world.tenant_a.pk}/history/")
    assert history.status_code == 200
    page = history.content.decode()
    assert "a platform operator" in page and "root-op" not in page
    assert (
        "root-op"
        in operator_client.get(
            f"/admin/accounts/tenant/{world.tenant_a.pk}/history/"
        ).content.decode()
    )


def test_only_an_operator_resets_a_lost_second_factor(operator_client, as_alice, world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=world.bob, name="phone", confirmed=True)
    action = {"action": "reset_second_factor", "_selected_action": [world.bob.pk]}
    as_alice.post("/admin/accounts/user/", action)
    assert TOTPDevice.objects.filter(user=world.bob).exists()
    operator_client.post("/admin/accounts/user/", action)
    assert not TOTPDevice.objects.filter(user=world.bob).exists()
    assert records("mfa.removed", tenant=world.tenant_a, detail__contains="operator").exists()


def test_deleting_a_tenant_from_before_the_upgrade_takes_its_people_s_tokens(world):
    from accounts.models import Tenant
    from federation.models import ApiToken
    from tests.factories import TenantFactory

    old = TenantFactory(slug="old", name="Old")
    person = UserFactory(username="oldtimer")
    # Memberships and teams made before they were recorded: no record names the tenant.
    Membership.objects.bulk_create([Membership(user=person, tenant=old)])
    Team.objects.bulk_create([Team(tenant=old, name="ops")])
    token, _ = ApiToken.issue(user=person, name="laptop", days=30)
    old.delete()
    assert not Tenant.objects.filter(slug="old").exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    revoked = records("token.revoked").get()
    assert revoked.tenant is None and "tenant old deleted" in revoked.detail


def test_making_a_password_unusable_or_setting_a_first_one_kills_tokens(world):
    from federation.models import ApiToken

    token, _ = ApiToken.issue(user=world.bob, name="laptop", days=30)
    world.bob.set_unusable_password()
    world.bob.save()
    token.refresh_from_db()
    assert token.revoked_at is not None
    second, _ = ApiToken.issue(user=world.bob, name="desktop", days=30)
    world.bob.set_password("a new long pass phrase")
    world.bob.save()
    second.refresh_from_db()
    assert second.revoked_at is not None


def test_a_stronger_hash_of_the_same_password_at_sign_in_kills_nothing(client, world, settings):
    from federation.models import ApiToken

    token, _ = ApiToken.issue(user=world.bob, name="laptop", days=30)
    # The suite hashes with MD5; signing in under PBKDF2 rehashes bob's password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    before = world.bob.password
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    world.bob.refresh_from_db()
    assert world.bob.password != before
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not records("user.password_changed").exists()


def test_a_membership_cannot_be_handed_to_another_person(as_alice, world):
    other = UserFactory(username="other")
    MembershipFactory(user=other, tenant=world.tenant_b)
    bobs = Membership.objects.get(user=world.bob, tenant=world.tenant_a)
    response = as_alice.post(
        f"/admin/accounts/membership/{bobs.pk}/change/",
        {"user": other.pk, "tenant": world.tenant_a.pk, "role": "member"},
    )
    assert response.status_code in {200, 302}
    bobs.refresh_from_db()
    assert bobs.user == world.bob
    # Nor through the tenant's page, where the memberships are rows of a list.
    page = as_alice.get(f"/admin/accounts/tenant/{world.tenant_a.pk}/change/").content.decode()
    rows = re.findall(r'<select[^>]*name="memberships-\d+-user"[^>]*>', page)
    assert rows and all(" disabled" in row for row in rows)


def test_joining_a_team_from_the_person_s_side_is_recorded_in_a_request(world):
    from core.scoping import strict_scoping
    from tests.factories import TeamFactory

    team = TeamFactory(tenant=world.tenant_a, name="ops")
    with strict_scoping():  # as if a page did it while serving a request
        world.bob.teams.add(team)
    assert records("team.changed", detail="bob added to team ops").exists()


def test_an_operator_deletes_a_person_with_api_tokens(operator_client, world):
    from federation.models import ApiToken

    ApiToken.issue(user=world.bob, name="laptop", days=30)
    confirm = operator_client.get(f"/admin/accounts/user/{world.bob.pk}/delete/")
    assert confirm.status_code == 200
    assert b"permission to delete" not in confirm.content
    response = operator_client.post(f"/admin/accounts/user/{world.bob.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user_id=world.bob.pk).exists()
