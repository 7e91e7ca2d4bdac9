"""Granting offers the roles the portal can see in the tenant's accounts (iam:ListRoles),
named by account; a typed ARN still goes, and where listing is not allowed a note says so."""

import pytest
from django.core.cache import cache

from accounts.models import Membership
from federation import aws, services
from federation.models import AwsAccount
from tests.conftest import READ_ONLY_POLICY
from tests.factories import UserFactory
from tests.federation.helpers import (
    ADMINISTRATION_ROLE,
    BROKER_ACCOUNT,
    CUSTOMER_ACCOUNT,
    iam_in,
    make_role,
    trusting_the_portal,
)
from tests.federation.test_grants import GRANT_URL

pytestmark = pytest.mark.django_db

DEPLOY = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/Deploy"


@pytest.fixture
def admin(client, world):
    client.force_login(world.alice)
    return client


@pytest.fixture
def accounts(sandbox, world):
    """Acme's directory: the portal's account ("Sandbox") and its own ("Production"),
    reached through its administration role."""
    AwsAccount.objects.create(tenant=world.tenant_a, account_id=BROKER_ACCOUNT, name="Sandbox")
    AwsAccount.objects.create(tenant=world.tenant_a, account_id=CUSTOMER_ACCOUNT, name="Production")
    iam = iam_in(sandbox, CUSTOMER_ACCOUNT)
    make_role(iam, ADMINISTRATION_ROLE, trust=trusting_the_portal(world.tenant_a))
    make_role(iam, "Deploy", trust=trusting_the_portal(world.tenant_a))
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()
    return iam


def offered(page):
    return page.content.decode().split('<datalist id="role-choices">', 1)[1].split("</datalist>")[0]


def test_it_offers_the_roles_a_grant_could_use_named_by_account(admin, world, accounts):
    for name, tenant in [("AcmeRead", world.tenant_a), ("GlobexOwn", world.tenant_b)]:
        services.create_broker_role(name=name, tenant=tenant, policy_document=READ_ONLY_POLICY)
    make_role(accounts, "Untrusted", trust=trusting_the_portal())  # demands no ExternalId

    page = admin.get(GRANT_URL)

    assert 'list="role-choices"' in page.content.decode()
    assert offered(page) == (
        f'<option value="{DEPLOY}">Production · Deploy</option>'
        f'<option value="arn:aws:iam::{BROKER_ACCOUNT}:role/AcmeRead">Sandbox · AcmeRead</option>'
    )


def test_another_tenants_admin_is_offered_none_of_them(client, world, accounts):
    membership = Membership.objects.unscoped("test").get(user=world.carol)
    membership.role = Membership.Role.ADMIN
    membership.save()
    world.carol.refresh_from_db()  # now staff
    client.force_login(world.carol)

    page = client.get(GRANT_URL)

    assert page.status_code == 200
    assert offered(page) == ""
    assert "Production" not in page.content.decode()


def test_the_list_is_kept_a_short_while(admin, world, accounts):
    admin.get(GRANT_URL)
    make_role(accounts, "Later", trust=trusting_the_portal(world.tenant_a))
    assert "Later" not in offered(admin.get(GRANT_URL))
    cache.clear()
    assert "Production · Later" in offered(admin.get(GRANT_URL))


def test_where_listing_is_not_allowed_a_quiet_note_and_the_arn_still_goes(
    admin, world, accounts, sandbox
):
    sandbox.faults = {"iam": "no-read"}

    page = admin.get(GRANT_URL)

    text = page.content.decode()
    assert page.status_code == 200 and "errornote" not in text
    assert (
        f"Roles in Production ({CUSTOMER_ACCOUNT}) are not listed: Portcullis may not list "
        "them (iam:ListRoles)." in text
    )
    world.tenant_a.administration_role_name = ""
    world.tenant_a.save()
    cache.clear()
    sandbox.faults = {}
    assert (
        f"Roles in Production ({CUSTOMER_ACCOUNT}) are not listed: name an administration "
        "role to see them." in admin.get(GRANT_URL).content.decode()
    )


def test_it_reads_every_page_and_stops_at_its_bound(admin, world, accounts, monkeypatch):
    for n in range(3):
        make_role(accounts, f"Team{n}", trust=trusting_the_portal(world.tenant_a))
    monkeypatch.setattr(aws.iam, "ROLE_LIST_PAGE", 2)

    everything = offered(admin.get(GRANT_URL))
    assert [f"Production · {name}" in everything for name in ("Deploy", "Team0", "Team2")] == [
        True
    ] * 3

    cache.clear()
    monkeypatch.setattr(aws.iam, "ROLE_LIST_LIMIT", 3)
    page = admin.get(GRANT_URL)
    assert offered(page).count("Production ·") <= 3
    assert (
        f"Production ({CUSTOMER_ACCOUNT}) holds more roles than are listed: type the ARN."
        in page.content.decode()
    )


def test_an_operator_of_many_tenants_types_the_arn(client, world, accounts, monkeypatch):
    monkeypatch.setattr("federation.services.roles.ROLE_LIST_ACCOUNTS", 1)
    client.force_login(UserFactory(username="op", is_staff=True, is_superuser=True))

    page = client.get(GRANT_URL)

    assert offered(page) == ""
    assert "Roles are offered where you run a few tenants: type the ARN." in page.content.decode()


def test_a_listing_aws_failed_is_not_asked_again_at_every_reload(world, accounts, sandbox):
    from federation.services.roles import role_picker

    sandbox.faults = {"sts": "500", "only": "AssumeRole"}  # the way into Production fails
    first = role_picker([world.tenant_a])
    asked = sandbox.calls["sts:AssumeRole"]
    assert asked >= 1
    assert any("Production (" in note and "AWS did not answer" in note for note in first.notes)

    again = role_picker([world.tenant_a])
    assert sandbox.calls["sts:AssumeRole"] == asked
    assert again.notes == first.notes


def test_the_picker_stops_asking_aws_once_its_time_is_up(world, accounts, sandbox, monkeypatch):
    from federation.services import roles

    monkeypatch.setattr(roles, "ROLE_LIST_BUDGET_SECONDS", 0)
    picker = roles.role_picker([world.tenant_a])
    assert picker.choices == []
    assert picker.notes == ["AWS is slow to answer: roles in further accounts are not listed."]
    assert sandbox.calls["sts:AssumeRole"] == 0
