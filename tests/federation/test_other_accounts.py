"""Roles in a tenant's own AWS accounts are read and written there, through the tenant's
administration role; never in the portal's account under the same name."""

import json

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.records import RequestMeta
from federation import aws, services
from federation.models import RoleMapping
from tests.conftest import READ_ONLY_POLICY
from tests.federation.helpers import (
    ADMINISTRATION_ROLE,
    CUSTOMER_ACCOUNT,
    iam_in,
    make_role,
    trusting_the_portal,
)
from tests.federation.test_grants import GRANT_URL, grant_form

pytestmark = pytest.mark.django_db

DEPLOY = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/Deploy"
UNREACHABLE = (
    f"Portcullis cannot reach IAM in account {CUSTOMER_ACCOUNT}: name an administration role"
)


@pytest.fixture
def admin(client, world):
    client.force_login(world.alice)
    return client


@pytest.fixture
def customer(sandbox, world):
    """Acme's own AWS account: its Deploy role trusts the portal with Acme's ExternalId and
    allows sessions of four hours."""
    iam = iam_in(sandbox, CUSTOMER_ACCOUNT)
    make_role(
        iam, "Deploy", trust=trusting_the_portal(world.tenant_a), max_session_seconds=4 * 3600
    )
    return iam


@pytest.fixture
def way_in(customer, world):
    """Acme names its administration role, which its account holds."""
    make_role(
        customer,
        ADMINISTRATION_ROLE,
        trust=trusting_the_portal(world.tenant_a),
        actions=["iam:GetRole", "iam:ListRoles", "iam:*RolePolicy"],
    )
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()
    return customer


@pytest.fixture
def namesake(sandbox, world):
    """A Deploy role in the portal's own account too, trusting it with Acme's ExternalId."""
    return services.create_broker_role(
        name="Deploy", tenant=world.tenant_a, policy_document=READ_ONLY_POLICY
    )


def grant(admin, world, role_arn, **fields):
    return admin.post(
        GRANT_URL,
        {**grant_form(world.tenant_a, role_arn=role_arn, **fields), "users": [world.bob.pk]},
        follow=True,
    )


def test_a_role_in_the_tenants_account_is_checked_there(admin, world, way_in):
    longer = grant(admin, world, DEPLOY, max_session_seconds="28800")
    assert "at most 4 hours (its MaxSessionDuration)" in longer.content.decode()
    assert not RoleMapping.objects.exists()

    saved = grant(admin, world, DEPLOY, max_session_seconds="14400")
    assert RoleMapping.objects.filter(role_arn=DEPLOY, user=world.bob).exists()
    assert "was not checked" not in saved.content.decode()


def test_a_role_of_the_same_name_in_the_portals_account_is_not_mistaken_for_it(
    admin, world, sandbox, namesake
):
    iam = iam_in(sandbox, CUSTOMER_ACCOUNT)
    # The customer's Deploy lets the portal in without Acme's ExternalId: refused, although
    # the portal's own Deploy would pass.
    make_role(iam, "Deploy", trust=trusting_the_portal(), max_session_seconds=43200)
    make_role(iam, ADMINISTRATION_ROLE, trust=trusting_the_portal(world.tenant_a))
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()

    page = grant(admin, world, DEPLOY)

    assert "does not demand this tenant&#x27;s ExternalId" in page.content.decode()
    assert not RoleMapping.objects.exists()


def test_without_an_administration_role_the_grant_is_saved_with_a_warning(
    admin, world, customer, namesake
):
    saved = grant(admin, world, DEPLOY)

    assert RoleMapping.objects.filter(role_arn=DEPLOY).exists()
    assert f"The role was not checked: {UNREACHABLE}" in saved.content.decode()


def test_an_administration_role_that_refuses_the_portal_is_named(admin, world, customer):
    # It demands another tenant's ExternalId.
    make_role(customer, ADMINISTRATION_ROLE, trust=trusting_the_portal(world.tenant_b))
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()

    saved = grant(admin, world, DEPLOY)

    assert RoleMapping.objects.filter(role_arn=DEPLOY).exists()
    assert (
        f"AWS refused it the administration role arn:aws:iam::{CUSTOMER_ACCOUNT}:role/"
        f"{ADMINISTRATION_ROLE} (AccessDenied)" in saved.content.decode()
    )


def test_the_administration_session_is_reused_briefly_and_never_logged(
    world, way_in, sandbox, caplog
):
    via = services.administration_role(world.tenant_a)
    assert aws.describe_role(DEPLOY, via=via).max_session_seconds == 4 * 3600
    assert aws.describe_role(DEPLOY, via=via).arn == DEPLOY
    assert sandbox.calls["sts:AssumeRole"] == 1

    (session,) = sandbox.sessions.values()
    assert session.role_arn.endswith(f":role/{ADMINISTRATION_ROLE}")
    logged = caplog.text
    assert session.access_key_id not in logged and session.secret_access_key not in logged


def revoke(world, role_arn):
    return services.revoke_role_sessions(
        actor=world.alice, tenant=world.tenant_a, role_arn=role_arn, meta=RequestMeta()
    )


def inline_policies(iam, name):
    return iam.list_role_policies(RoleName=name)["PolicyNames"]


def test_revoking_sessions_writes_to_the_role_in_its_account(world, way_in, namesake):
    services.grant_role(actor=world.alice, tenant=world.tenant_a, user=world.bob, role_arn=DEPLOY)

    revoke(world, DEPLOY)

    assert "AWSRevokeOlderSessions" in inline_policies(way_in, "Deploy")
    assert "AWSRevokeOlderSessions" not in inline_policies(aws.iam_client(), "Deploy")


def test_revoking_sessions_without_a_way_in_says_so_on_the_record(world, customer, namesake):
    services.grant_role(actor=world.alice, tenant=world.tenant_a, user=world.bob, role_arn=DEPLOY)

    with pytest.raises(aws.AccountUnreachable, match=UNREACHABLE):
        revoke(world, DEPLOY)

    failed = AuditEvent.objects.get(action="sessions.failed")
    assert (failed.role_arn, failed.error_code) == (DEPLOY, "NoAdministrationRole")
    assert UNREACHABLE in failed.detail
    assert inline_policies(customer, "Deploy") == ["Permissions"]
    assert "AWSRevokeOlderSessions" not in inline_policies(aws.iam_client(), "Deploy")


def test_ended_access_statements_go_to_the_role_in_its_account(world, way_in, namesake):
    via = services.administration_role(world.tenant_a)
    statement = aws.ended_access_statement(
        sid="EndedBob1T20261125T101500", source_identity="bob", issued_before=timezone.now()
    )

    aws.add_ended_access_statement(role_arn=DEPLOY, statement=statement, via=via)

    document = way_in.get_role_policy(RoleName="Deploy", PolicyName="PortcullisEndedAccess")
    policy = document["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    assert [s["Sid"] for s in policy["Statement"]] == ["EndedBob1T20261125T101500"]
    assert "PortcullisEndedAccess" not in inline_policies(aws.iam_client(), "Deploy")

    aws.remove_ended_access_statements(role_arn=DEPLOY, sids=["EndedBob1T20261125T101500"], via=via)
    assert "PortcullisEndedAccess" not in inline_policies(way_in, "Deploy")
    with pytest.raises(aws.AccountUnreachable, match=UNREACHABLE):
        aws.add_ended_access_statement(role_arn=DEPLOY, statement=statement)
