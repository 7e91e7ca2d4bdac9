"""The tenant's AWS accounts get their names from its AWS Organizations organization:
read in the management account through the tenant's way in, scoped to the tenant, audited."""

import pytest

from accounts.models import Membership
from audit.models import AuditEvent
from federation import aws
from federation.models import AwsAccount
from tests.federation.helpers import (
    ADMINISTRATION_ROLE,
    iam_in,
    make_role,
    trusting_the_portal,
)

pytestmark = pytest.mark.django_db

MANAGEMENT = "333333333333"
LIST_URL = "/admin/federation/awsaccount/"
FILL_URL = "/admin/federation/awsaccount/fill/"


def lists_organization_from(sandbox, account, tenant):
    """The tenant's administration role in `account`, allowed to list the organization."""
    make_role(
        iam_in(sandbox, account),
        ADMINISTRATION_ROLE,
        trust=trusting_the_portal(tenant),
        actions=["organizations:ListAccounts"],
    )


@pytest.fixture
def organization(sandbox, world):
    """Acme's organization, managed from 333333333333 where Acme's administration role is:
    the management account and two member accounts, Production and Staging."""
    org = iam_in(sandbox, MANAGEMENT, service="organizations")
    org.create_organization(FeatureSet="ALL")
    members = {
        name: org.create_account(Email=f"{name.lower()}@acme.example", AccountName=f"Acme {name}")[
            "CreateAccountStatus"
        ]["AccountId"]
        for name in ("Production", "Staging")
    }
    lists_organization_from(sandbox, MANAGEMENT, world.tenant_a)
    world.tenant_a.management_account_id = MANAGEMENT
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()
    return members


@pytest.fixture
def admin(client, world):
    client.force_login(world.alice)
    return client


def names(tenant):
    return dict(
        AwsAccount.objects.unscoped("test").filter(tenant=tenant).values_list("account_id", "name")
    )


def test_it_fills_the_names_from_the_organization_page_by_page(
    admin, world, organization, monkeypatch
):
    monkeypatch.setattr(aws.organizations, "ORGANIZATION_PAGE", 1)
    production = organization["Production"]
    AwsAccount.objects.create(tenant=world.tenant_a, account_id=production, name="prod")
    AwsAccount.objects.create(tenant=world.tenant_b, account_id=production, name="theirs")
    assert 'href="/admin/federation/awsaccount/fill/"' in admin.get(LIST_URL).content.decode()

    filled = admin.post(FILL_URL, {"tenant": world.tenant_a.pk}, follow=True)

    assert "2 added, 1 renamed, 0 unchanged" in filled.content.decode()
    assert names(world.tenant_a) == {
        MANAGEMENT: "master",
        production: "Acme Production",
        organization["Staging"]: "Acme Staging",
    }
    assert names(world.tenant_b) == {production: "theirs"}
    record = AuditEvent.objects.get(action="aws_accounts.filled")
    assert (record.tenant, record.actor_username) == (world.tenant_a, "alice")
    assert (
        record.detail == f"from AWS Organizations in {MANAGEMENT}: 2 added, 1 renamed, 0 unchanged"
    )

    again = admin.post(FILL_URL, {"tenant": world.tenant_a.pk}, follow=True)
    assert "0 added, 0 renamed, 3 unchanged" in again.content.decode()


def test_another_tenants_admin_cannot_fill_this_tenants_directory(client, world, organization):
    membership = Membership.objects.unscoped("test").get(user=world.carol)
    membership.role = Membership.Role.ADMIN
    membership.save()
    world.carol.refresh_from_db()
    client.force_login(world.carol)

    refused = client.post(FILL_URL, {"tenant": world.tenant_a.pk})

    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert names(world.tenant_a) == {}
    assert not AuditEvent.objects.filter(action="aws_accounts.filled").exists()
    client.force_login(world.bob)
    assert client.get(FILL_URL).status_code == 302  # members have no admin at all


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"management_account_id": ""},
            "Acme names no AWS Organizations management account: set it on the tenant",
        ),
        (
            {"administration_role_name": ""},
            f"Portcullis cannot reach AWS Organizations in account {MANAGEMENT}: name an "
            "administration role",
        ),
        (
            {"management_account_id": "444444444444", "administration_role_name": ""},
            "Portcullis cannot reach AWS Organizations in account 444444444444",
        ),
    ],
)
def test_when_the_organization_cannot_be_read_nothing_changes_and_it_says_why(
    admin, world, organization, change, message
):
    for field, value in change.items():
        setattr(world.tenant_a, field, value)
    world.tenant_a.save()

    page = admin.post(FILL_URL, {"tenant": world.tenant_a.pk}, follow=True)

    assert f"Nothing was filled: {message}" in page.content.decode().replace("&#x27;", "'")
    assert names(world.tenant_a) == {}
    assert not AuditEvent.objects.filter(action="aws_accounts.filled").exists()


def test_a_tenant_admin_cannot_fill_from_the_portals_own_account(admin, world, organization):
    own_account, _ = aws.caller_identity()
    world.tenant_a.management_account_id = own_account
    world.tenant_a.save()

    page = admin.post(FILL_URL, {"tenant": world.tenant_a.pk}, follow=True).content.decode()

    assert "Nothing was filled: That is the portal&#x27;s own AWS account" in page
    assert names(world.tenant_a) == {}
    assert not AuditEvent.objects.filter(action="aws_accounts.filled").exists()


@pytest.mark.parametrize(
    ("account", "message"),
    [
        # The administration role is there, but the account runs no organization...
        ("555555555555", "Account 555555555555 is in no AWS Organizations organization."),
        # ...or only belongs to one, whose accounts it may not list.
        ("Production", "AWS refused organizations:ListAccounts in account"),
    ],
)
def test_an_account_that_runs_no_organization_is_named_as_such(
    admin, world, organization, sandbox, account, message
):
    account = organization.get(account, account)
    lists_organization_from(sandbox, account, world.tenant_a)
    world.tenant_a.management_account_id = account
    world.tenant_a.save()

    page = admin.post(FILL_URL, {"tenant": world.tenant_a.pk}, follow=True).content.decode()

    assert f"Nothing was filled: {message}" in page.replace("&#x27;", "'")
    assert names(world.tenant_a) == {}
    assert not AuditEvent.objects.filter(action="aws_accounts.filled").exists()
