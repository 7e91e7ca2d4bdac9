"""Tenant admins grant, extend and end roles in the admin; teams carry grants to members."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.records import record
from federation import services
from federation.models import AwsAccount, RoleMapping
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.federation.helpers import open_console

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/AcmeDeveloper"
GRANT_URL = "/admin/federation/rolemapping/add/"


def grant_form(tenant, **fields):
    data = {
        "tenant": tenant.pk,
        "role_arn": ROLE,
        "label": "Developer",
        "account_alias": "acme-dev",
        "max_session_seconds": "3600",
        "destination_path": "/console/home",
        "region": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "session_policy": "",
    }
    data.update(fields)
    return data


@pytest.fixture
def dave(world):
    user = UserFactory(username="dave")
    MembershipFactory(user=user, tenant=world.tenant_a)
    return user


@pytest.fixture
def team(world, dave):
    team = TeamFactory(tenant=world.tenant_a, name="platform")
    team.members.add(dave)
    return team


def test_it_grants_one_role_to_several_people_and_a_team_at_once(client, world, dave, team):
    client.force_login(world.alice)
    until = timezone.now() + timedelta(days=30)
    response = client.post(
        GRANT_URL,
        grant_form(
            world.tenant_a,
            users=[world.bob.pk, dave.pk],
            teams=[team.pk],
            valid_until_0=until.strftime("%Y-%m-%d"),
            valid_until_1=until.strftime("%H:%M:%S"),
        ),
    )
    assert response.status_code == 302, response.content.decode()
    grants = RoleMapping.objects.filter(role_arn=ROLE)
    assert sorted(str(grant.grantee) for grant in grants) == sorted(
        ["bob", "dave", "platform (Acme)"]
    )
    assert {grant.granted_by for grant in grants} == {world.alice}
    assert all(abs(grant.valid_until - until) < timedelta(seconds=1) for grant in grants)
    rows = AuditEvent.objects.filter(action="mapping.granted", role_arn=ROLE)
    assert rows.count() == 3
    assert {row.actor_username for row in rows} == {"alice"}
    assert {row.tenant_id for row in rows} == {world.tenant_a.pk}


def test_it_grants_nothing_when_one_grantee_is_in_another_tenant(client, world):
    client.force_login(world.alice)
    response = client.post(
        GRANT_URL, grant_form(world.tenant_a, users=[world.bob.pk, world.carol.pk])
    )
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not RoleMapping.objects.filter(role_arn=ROLE).exists()


def test_it_explains_a_grant_without_grantees_or_past_the_tenant_limit(client, world):
    client.force_login(world.alice)
    response = client.post(GRANT_URL, grant_form(world.tenant_a))
    assert b"Choose at least one person or team." in response.content
    world.tenant_a.max_session_seconds = 3600
    world.tenant_a.save()
    response = client.post(
        GRANT_URL, grant_form(world.tenant_a, users=[world.bob.pk], max_session_seconds="7200")
    )
    assert response.status_code == 200
    assert b"At most the tenant&#x27;s limit of 1 hour." in response.content
    assert not RoleMapping.objects.exists()
    assert not AuditEvent.objects.filter(action="mapping.granted").exists()


def test_it_refuses_an_end_date_in_the_past(client, world):
    client.force_login(world.alice)
    past = timezone.now() - timedelta(days=1)
    response = client.post(
        GRANT_URL,
        grant_form(
            world.tenant_a,
            users=[world.bob.pk],
            valid_until_0=past.strftime("%Y-%m-%d"),
            valid_until_1="12:00:00",
        ),
    )
    assert b"Choose a time in the future." in response.content
    assert not RoleMapping.objects.exists()


def change_form(grant, **fields):
    """The grant's change page as it renders for a standing grant (tenant in UTC)."""
    data = {
        "label": grant.label,
        "account_alias": "",
        "max_session_seconds": str(grant.max_session_seconds),
        "destination_path": "/console/home",
        "region": "",
        "session_policy": "",
        "valid_from_0": grant.valid_from.strftime("%Y-%m-%d"),
        "valid_from_1": grant.valid_from.strftime("%H:%M:%S"),
        "valid_until_0": "",
        "valid_until_1": "",
        "active": "on",
        # The access-on-request fields, as the page renders them for a standing grant.
        "activation": "standing",
        "approvals_needed": "1",
        "max_activation_seconds": "3600",
        "escalate_after_seconds": "3600",
    }
    data.update(fields)
    return data


def test_it_records_an_extension_naming_who_made_it(client, world, bob_grant):
    client.force_login(world.alice)
    page = client.get(f"/admin/federation/rolemapping/{bob_grant.pk}/change/")
    assert page.status_code == 200
    until = timezone.now() + timedelta(days=90)
    data = change_form(
        bob_grant, valid_until_0=until.strftime("%Y-%m-%d"), valid_until_1="12:00:00"
    )
    response = client.post(f"/admin/federation/rolemapping/{bob_grant.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()
    bob_grant.refresh_from_db()
    assert bob_grant.valid_until.date() == until.date()
    change = AuditEvent.objects.get(action="mapping.changed")
    assert change.actor_username == "alice"
    assert change.mapping_id == bob_grant.pk
    assert f"valid_until={until:%Y-%m-%d}T12:00Z" in change.detail


def test_it_ends_grants_from_the_list_and_issuance_stops(client, world, bob_grant, sandbox):
    client.force_login(world.alice)
    response = client.post(
        "/admin/federation/rolemapping/",
        {"action": "end_grants", "_selected_action": [bob_grant.pk]},
    )
    assert response.status_code == 302
    bob_grant.refresh_from_db()
    assert not bob_grant.active
    assert AuditEvent.objects.get(action="mapping.revoked").actor_username == "alice"
    client.force_login(world.bob)
    assert bob_grant.label.encode() not in client.get("/").content
    calls = sum(sandbox.calls.values())
    assert open_console(client, bob_grant).status_code == 404
    assert sum(sandbox.calls.values()) == calls


def test_it_has_no_delete_for_grants(client, world, bob_grant):
    client.force_login(world.alice)
    response = client.post(f"/admin/federation/rolemapping/{bob_grant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert RoleMapping.objects.filter(pk=bob_grant.pk).exists()


def test_a_team_grant_reaches_members_and_stops_when_they_leave(
    client, world, team, dave, demo_role, sandbox
):
    grant = RoleMapping.objects.create(
        tenant=world.tenant_a, team=team, role_arn=demo_role, label="Platform admin"
    )
    client.force_login(dave)
    assert b"Platform admin" in client.get("/").content
    assert open_console(client, grant).status_code == 200
    client.force_login(world.bob)
    assert b"Platform admin" not in client.get("/").content
    assert open_console(client, grant).status_code == 404

    team.members.remove(dave)
    client.force_login(dave)
    assert b"Platform admin" not in client.get("/").content
    calls = sum(sandbox.calls.values())
    assert open_console(client, grant).status_code == 404
    assert sum(sandbox.calls.values()) == calls
    assert AuditEvent.objects.filter(action="console.denied", actor=dave).count() == 1


def test_an_expired_grant_disappears_and_is_refused(client, world, bob_grant, sandbox):
    RoleMapping.objects.filter(pk=bob_grant.pk).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(world.bob)
    assert bob_grant.label.encode() not in client.get("/").content
    calls = sum(sandbox.calls.values())
    assert open_console(client, bob_grant).status_code == 404
    assert sum(sandbox.calls.values()) == calls
    assert AuditEvent.objects.filter(action="console.denied").count() == 1


def test_the_grant_page_fits_an_arn_and_chooses_the_only_tenant_an_admin_runs(client, world):
    client.force_login(world.alice)

    page = client.get(GRANT_URL).content.decode()

    assert re.search(rf'<option value="{world.tenant_a.pk}" selected>Acme</option>', page)
    assert re.search(r'<input type="text" name="role_arn"[^>]* size="80"', page)


def test_the_admin_writes_times_as_the_portal_does(client, world, bob_grant):
    used = datetime(2026, 11, 3, 4, 5, tzinfo=UTC)
    record("console.issued", actor=world.bob, mapping=bob_grant, created_at=used)
    client.force_login(world.alice)

    listing = client.get("/admin/federation/rolemapping/").content.decode()
    grant = client.get(f"/admin/federation/rolemapping/{bob_grant.pk}/change/").content.decode()

    assert '<td class="field-last_used nowrap">2026-11-03 04:05 UTC</td>' in listing
    assert "Nov. 3, 2026" not in listing
    created = timezone.localtime(bob_grant.created_at).strftime("%Y-%m-%d %H:%M UTC")
    assert f'<div class="readonly">{created}</div>' in grant


def test_the_grants_list_says_in_force_only_for_grants_issuance_would_use(client, world, bob_grant):
    operator = UserFactory(username="root", is_staff=True, is_superuser=True)
    later = RoleMapping.objects.create(
        tenant=world.tenant_a,
        user=world.alice,
        role_arn=bob_grant.role_arn,
        label="Starts tomorrow",
        valid_from=timezone.now() + timedelta(days=1),
    )
    switched_off = RoleMapping.objects.create(
        tenant=world.tenant_b, user=world.carol, role_arn=bob_grant.role_arn, label="Globex ops"
    )
    world.tenant_b.active = False
    world.tenant_b.save(update_fields=["active"])
    client.force_login(operator)

    in_force = client.get("/admin/federation/rolemapping/").content.decode()
    not_in_force = client.get("/admin/federation/rolemapping/", {"state": "ended"}).content.decode()

    assert bob_grant.label in in_force
    assert later.label not in in_force and switched_off.label not in in_force
    assert later.label in not_in_force and switched_off.label in not_in_force
    assert "not yet in force" in not_in_force and "tenant switched off" in not_in_force
    assert '<td class="field-state">in force</td>' not in not_in_force
    # The same rule as issuance's: what the list calls in force is what current() finds.
    assert set(RoleMapping.objects.unscoped("test").current()) == {bob_grant}


def test_the_grants_list_says_who_what_how_long_and_when_last_used(
    client, world, bob_grant, sandbox
):
    ended = RoleMapping.objects.create(
        tenant=world.tenant_a, user=world.alice, role_arn=bob_grant.role_arn, label="Old one"
    )
    ended.active = False
    ended.save()
    client.force_login(world.bob)
    assert open_console(client, bob_grant).status_code == 200
    client.force_login(world.alice)

    # The account as Acme's directory names it (not Globex's name for the same id, nor the
    # grant's alias); a role in an account it does not name shows the bare id.
    AwsAccount.objects.create(tenant=world.tenant_a, account_id="123456789012", name="Sandbox")
    AwsAccount.objects.create(tenant=world.tenant_b, account_id="123456789012", name="Globex's")
    RoleMapping.objects.filter(pk=bob_grant.pk).update(account_alias="acme-dev")

    listing = client.get("/admin/federation/rolemapping/").content.decode()
    assert "Acme admin" in listing and "Old one" not in listing  # ended: hidden by default
    assert f'<span title="{bob_grant.role_arn}">AcmeAdmin</span>' in listing
    assert '<span class="quiet" title="account 123456789012">Sandbox</span>' in listing
    assert "Globex" not in listing and "acme-dev" not in listing
    assert "12 hours" in listing and "in force" in listing
    assert '<td class="field-last_used">never</td>' not in listing

    everything = client.get("/admin/federation/rolemapping/", {"state": "ended"}).content.decode()
    assert "Old one" in everything and "Acme admin" not in everything

    elsewhere = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn="arn:aws:iam::210987654321:role/Elsewhere",
    )
    unnamed = client.get("/admin/federation/rolemapping/").content.decode()
    assert '<span class="quiet" title="account 210987654321">210987654321</span>' in unnamed
    # Not in the directory, but named by the grant's alias: the alias, as on the roles page.
    RoleMapping.objects.filter(pk=elsewhere.pk).update(account_alias="partner-prod")
    aliased = client.get("/admin/federation/rolemapping/").content.decode()
    assert '<span class="quiet" title="account 210987654321">partner-prod</span>' in aliased


def test_a_tenant_column_and_filter_show_only_to_someone_running_several_tenants(
    client, world, bob_grant
):
    client.force_login(world.alice)  # Acme's admin alone
    listing = client.get("/admin/federation/rolemapping/").content.decode()
    assert "column-tenant" not in listing and "By tenant" not in listing

    operator = UserFactory(username="root-op", is_staff=True, is_superuser=True)
    client.force_login(operator)
    listing = client.get("/admin/federation/rolemapping/").content.decode()
    assert "column-tenant" in listing and "By tenant" in listing
