"""Revoking a role's live sessions: AWSRevokeOlderSessions on the role, in the sandbox."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from core.arns import RoleArn
from federation import aws, services
from federation.models import RoleMapping
from tests.conftest import READ_ONLY_POLICY
from tests.federation.helpers import console_url, follow, open_console

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/federation/rolemapping/"


def revoke(client, grant, confirm=True):
    data = {"action": "revoke_sessions", "_selected_action": [grant.pk]}
    if confirm:
        data["post"] = "yes"
    return client.post(CHANGELIST, data, follow=confirm)


def revoke_policy(role_arn):
    role = RoleArn.parse(role_arn)
    document = aws.iam_client().get_role_policy(
        RoleName=role.name, PolicyName="AWSRevokeOlderSessions"
    )["PolicyDocument"]
    cutoff = document["Statement"]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    return document, datetime.fromisoformat(cutoff.replace("Z", "+00:00"))


def test_it_asks_before_revoking(client, world, bob_grant, sandbox):
    client.force_login(world.alice)
    page = revoke(client, bob_grant, confirm=False)
    assert page.status_code == 200
    assert b"Revoke live sessions?" in page.content
    assert bob_grant.role_arn.encode() in page.content
    assert not AuditEvent.objects.filter(action="sessions.revoked").exists()


def test_it_puts_the_revoke_policy_on_the_role_and_records_it(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    old_url = console_url(open_console(client, bob_grant))
    client.force_login(world.alice)
    before = timezone.now()
    page = revoke(client, bob_grant)
    assert page.status_code == 200
    assert b"are now denied everything" in page.content
    # A sentence, not an ARN starting with a lower-case "arn:".
    assert f"Sessions of {bob_grant.role_arn} (Acme) issued before".encode() in page.content

    document, cutoff = revoke_policy(bob_grant.role_arn)
    assert document["Statement"]["Effect"] == "Deny"
    assert document["Statement"]["Action"] == "*"
    assert before < cutoff <= before + timedelta(seconds=2)
    row = AuditEvent.objects.get(action="sessions.revoked")
    assert row.actor_username == "alice"
    assert row.tenant == world.tenant_a
    assert row.role_arn == bob_grant.role_arn
    assert row.created_at == cutoff
    # The listing shows when it happened.
    listing = client.get(CHANGELIST).content.decode()
    shown = re.search(r'<td class="field-sessions_revoked_at[^"]*">([^<]*)</td>', listing).group(1)
    assert shown == timezone.localtime(cutoff).strftime("%Y-%m-%d %H:%M UTC")

    # The session issued before is dead in the (sandbox) console; a new one works.
    denied = follow(old_url)
    assert denied.status_code == 403
    assert "AWSRevokeOlderSessions" in denied.text
    with time_machine.travel(cutoff + timedelta(seconds=1), tick=True):
        client.force_login(world.bob)
        fresh = follow(console_url(open_console(client, bob_grant)))
    assert fresh.status_code == 200
    assert "assumed-role/AcmeAdmin/bob" in fresh.text


def test_running_it_again_moves_the_time_forward(client, world, bob_grant, sandbox):
    client.force_login(world.alice)
    revoke(client, bob_grant)
    _, first = revoke_policy(bob_grant.role_arn)
    with time_machine.travel(first + timedelta(minutes=5)):
        revoke(client, bob_grant)
    _, second = revoke_policy(bob_grant.role_arn)
    assert second >= first + timedelta(minutes=5)
    assert AuditEvent.objects.filter(action="sessions.revoked").count() == 2


def test_it_says_so_when_aws_refuses(client, world, bob_grant, sandbox):
    sandbox.faults = {"iam": "denied"}
    client.force_login(world.alice)
    page = revoke(client, bob_grant)
    assert page.status_code == 200
    assert b"lacks iam:PutRolePolicy" in page.content
    failed = AuditEvent.objects.get(action="sessions.failed")
    assert failed.error_code == "AccessDenied"
    assert failed.actor_username == "alice"
    assert not AuditEvent.objects.filter(action="sessions.revoked").exists()


def test_it_leaves_alone_a_role_that_does_not_trust_this_tenant(client, world, sandbox):
    # A role set up for tenant B, granted in tenant A (granting checks the role's trust
    # today; this grant is from before that, or the trust policy changed since).
    globex_role = services.create_broker_role(
        name="GlobexAdmin", tenant=world.tenant_b, policy_document=READ_ONLY_POLICY
    )
    grant = RoleMapping.objects.create(
        tenant=world.tenant_a, user=world.bob, role_arn=globex_role, label="GlobexAdmin"
    )
    client.force_login(world.alice)
    page = revoke(client, grant)
    assert b"does not require this tenant" in page.content
    role = RoleArn.parse(globex_role)
    assert aws.iam_client().list_role_policies(RoleName=role.name)["PolicyNames"] == [
        "GlobexAdminPermissions"
    ]
    assert AuditEvent.objects.get(action="sessions.denied").role_arn == globex_role


def test_a_member_cannot_revoke_sessions(client, world, bob_grant, sandbox):
    with pytest.raises(services.GrantNotFound):
        services.revoke_role_sessions(
            actor=world.bob, tenant=world.tenant_a, role_arn=bob_grant.role_arn
        )
    with pytest.raises(services.GrantNotFound):
        services.revoke_role_sessions(
            actor=world.carol, tenant=world.tenant_a, role_arn=bob_grant.role_arn
        )
    client.force_login(world.bob)
    assert revoke(client, bob_grant).redirect_chain[-1][0].startswith("/admin/login/")
    assert not AuditEvent.objects.filter(action__startswith="sessions.").exists()
