import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import AuditEvent
from federation import aws
from federation.models import ApiToken, AwsAccount, RoleMapping
from tests.conftest import READ_ONLY_POLICY
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db
AUCKLAND = ZoneInfo("Pacific/Auckland")


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_it_grants_a_role_and_audits_it(world, demo_role):
    world.tenant_a.time_zone = "Pacific/Auckland"
    world.tenant_a.save()
    out, _ = run(
        "grant",
        "BOB",
        demo_role,
        "--tenant",
        "acme",
        "--max-session",
        "7200",
        "--label",
        "Admin",
        "--region",
        "eu-west-1",
        "--until",
        "2099-12-31",
    )
    mapping = RoleMapping.objects.get(pk=int(out))
    assert (mapping.user, mapping.max_session_seconds, mapping.label) == (world.bob, 7200, "Admin")
    # A date alone: the end of that day on the tenant's clock.
    assert mapping.valid_until == datetime(2099, 12, 31, 23, 59, 59, tzinfo=AUCKLAND)
    event = AuditEvent.objects.get(action="mapping.granted")
    assert event.actor_username == "(command line)"
    assert event.mapping_id == mapping.pk


def test_it_grants_a_role_to_a_team(world, demo_role):
    TeamFactory(tenant=world.tenant_a, name="ops")
    out, _ = run("grant", "ops", demo_role, "--tenant", "acme", "--team")
    assert RoleMapping.objects.get(pk=int(out)).team.name == "ops"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "arn:aws:iam::1:role/X", "--tenant", "acme"], "IAM role ARN"),
        (["bob", "ARN", "--tenant", "nope"], "no tenant with slug 'nope'"),
        (["nobody", "ARN", "--tenant", "acme"], "no user 'nobody'"),
        (["ops", "ARN", "--tenant", "acme", "--team"], "no team 'ops' in acme"),
        (["carol", "ROLE", "--tenant", "acme"], "not a member of this tenant"),
        (["bob", "ROLE", "--tenant", "acme", "--max-session", "50000"], "max_session_seconds"),
        (["bob", "ROLE", "--tenant", "acme", "--region", "cn-north-1"], "Not a region"),
        (["bob", "ROLE", "--tenant", "acme", "--until", "someday"], "not an ISO date"),
    ],
)
def test_it_refuses_a_bad_grant_and_writes_nothing(world, demo_role, args, message):
    args = [demo_role if a == "ROLE" else a for a in args]
    records = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=message):
        run("grant", *args)
    assert not RoleMapping.objects.exists()
    assert AuditEvent.objects.count() == records


def test_it_refuses_a_grant_above_the_tenant_limit(world, demo_role):
    world.tenant_a.max_session_seconds = 3600
    world.tenant_a.save()
    with pytest.raises(CommandError, match="tenant's limit of 1 hour"):
        run("grant", "bob", demo_role, "--tenant", "acme", "--max-session", "7200")


def test_it_revokes_a_grant_at_once(client, world, bob_grant, sandbox):
    out, _ = run("revoke", "bob", bob_grant.role_arn, "--tenant", "acme")
    assert out == "revoked 1 grant(s)"
    bob_grant.refresh_from_db()
    assert not bob_grant.active
    assert AuditEvent.objects.filter(action="mapping.revoked", mapping_id=bob_grant.pk).exists()
    client.force_login(world.bob)
    assert client.post(f"/console/{bob_grant.pk}/").status_code == 404


def test_it_says_when_there_is_nothing_to_revoke(world, demo_role):
    with pytest.raises(CommandError, match="no active grant"):
        run("revoke", "bob", demo_role, "--tenant", "acme")


def test_it_creates_a_role_with_an_aws_managed_policy_as_the_readme_shows(world, sandbox):
    out, _ = run(
        "create_broker_role",
        "ExampleReadOnly",
        "--tenant",
        "acme",
        "--managed-policy-arn",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "--max-session",
        "43200",
    )
    assert out == "arn:aws:iam::123456789012:role/ExampleReadOnly"
    attached = aws.iam_client().list_attached_role_policies(RoleName="ExampleReadOnly")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ]
    with pytest.raises(CommandError):
        run(
            "create_broker_role",
            "Nope",
            "--tenant",
            "acme",
            "--managed-policy-arn",
            "arn:aws:iam::aws:policy/NoSuchPolicyAtAll",
        )


def test_it_creates_a_broker_role_with_a_least_privilege_trust_policy(world, sandbox, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(READ_ONLY_POLICY)
    out, _ = run(
        "create_broker_role",
        "AcmeReadOnly",
        "--tenant",
        "acme",
        "--policy-document",
        str(policy),
        "--max-session",
        "7200",
    )
    assert out == "arn:aws:iam::123456789012:role/AcmeReadOnly"
    role = aws.iam_client().get_role(RoleName="AcmeReadOnly")["Role"]
    assert role["MaxSessionDuration"] == 7200
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": world.tenant_a.external_id}
    }
    names = aws.iam_client().list_role_policies(RoleName="AcmeReadOnly")["PolicyNames"]
    assert names == ["AcmeReadOnlyPermissions"]


def test_it_refuses_an_existing_role(world, sandbox, demo_role, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(READ_ONLY_POLICY)
    with pytest.raises(CommandError, match="A role named AcmeAdmin already exists"):
        run("create_broker_role", "AcmeAdmin", "--tenant", "acme", "--policy-document", str(policy))


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ("[]", "a JSON object with a Statement")],
)
def test_it_refuses_a_malformed_policy_and_creates_nothing(
    world, sandbox, tmp_path, content, message
):
    policy = tmp_path / "p.json"
    policy.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("create_broker_role", "Broken", "--tenant", "acme", "--policy-document", str(policy))
    assert aws.get_role_arn("Broken") is None


def test_it_refuses_a_role_without_permissions(world, sandbox):
    with pytest.raises(CommandError, match="Give the role permissions"):
        run("create_broker_role", "Empty", "--tenant", "acme")


def test_it_seeds_the_demo_and_bob_opens_the_console(client, sandbox):
    _, err = run("demo")
    assert "users bob / bobpassword and alice / alicepassword" in err
    token, _ = ApiToken.issue(user=User.objects.get(username="bob"), name="laptop", days=30)
    run("demo")  # again, as every `make run` does: bob's password and tokens stay as they are
    assert ApiToken.objects.live().filter(pk=token.pk).exists()
    assert not AuditEvent.objects.filter(action="user.password_reset").exists()
    bob = User.objects.get(username="bob")
    grant = RoleMapping.objects.get(user=bob, activation="standing")
    assert grant.max_session_seconds == 43200
    on_request = RoleMapping.objects.get(user=bob, activation="on_request")
    assert [a.username for a in on_request.approvers.all()] == ["alice"]
    alice = User.objects.get(username="alice")
    assert alice.is_staff and alice.memberships.get().role == "admin"
    assert RoleMapping.objects.count() == 2  # the second run added nothing
    (account,) = AwsAccount.objects.all()
    assert (account.account_id, account.name) == (grant.role.account_id, "Sandbox")
    assert client.post("/login/", {"username": "bob", "password": "bobpassword"}).status_code == 302
    response = client.post(f"/console/{grant.pk}/", {"duration": "43200"})
    assert b"Session is valid for 12 hours" in response.content


def test_it_refuses_to_seed_the_demo_against_real_aws(sandbox, monkeypatch, settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://sts.amazonaws.com")
    settings.AWS_FEDERATION_ENDPOINT = ""
    aws.reset_clients()
    with pytest.raises(CommandError, match="refusing to seed the demo against real AWS"):
        run("demo")
    assert not User.objects.filter(username="bob").exists()


def test_it_grants_a_role_on_request_with_its_approval_policy(world, demo_role):
    team = TeamFactory(tenant=world.tenant_a, name="dba")
    team.members.add(world.alice)
    out, _ = run(
        "grant", "bob", demo_role, "--tenant", "acme", "--on-request",
        "--approver", "alice", "--approver-team", "dba", "--approvals", "1",
        "--max-activation", "7200", "--escalate-after", "900", "--ticket-required",
        "--break-glass",
    )  # fmt: skip
    grant = RoleMapping.objects.get(pk=int(out))
    assert grant.on_request and grant.ticket_required and grant.break_glass
    assert (grant.approvals_needed, grant.max_activation_seconds) == (1, 7200)
    assert grant.escalate_after_seconds == 900
    assert list(grant.approvers.all()) == [world.alice]
    assert list(grant.approver_teams.all()) == [team]
    granted = AuditEvent.objects.get(action="mapping.granted")
    assert "on request: 1 approval(s) from alice, team dba, windows up to 2 hours" in (
        granted.detail
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--approver", "alice"], "approval options need --on-request"),
        (["--on-request"], "needs approvers"),
        (["--on-request", "--approver", "nobody"], "no user 'nobody'"),
        (["--on-request", "--approver", "carol"], "Not members of the grant's tenant: carol"),
        (
            ["--on-request", "--approver", "alice", "--approvals", "2"],
            "only 1 person besides bob can approve",
        ),
        (["--on-request", "--approver", "bob"], "only 0 people besides bob can approve"),
        (["--on-request", "--approver", "alice", "--max-activation", "600"], "1800"),
        (["--on-request", "--approver-team", "nope"], "no team 'nope' in acme"),
    ],
)
def test_it_refuses_a_bad_approval_policy_and_writes_nothing(world, demo_role, args, message):
    with pytest.raises(CommandError, match=message):
        run("grant", "bob", demo_role, "--tenant", "acme", *args)
    assert not RoleMapping.objects.exists()


def test_the_demo_signs_example_corp_in_through_a_local_provider(sandbox, settings, monkeypatch):
    from accounts.models import IdentityProvider, Team
    from tests.accounts.conftest import TokenProvider

    settings.DEBUG = True  # the local provider is plain http on loopback
    provider = TokenProvider()
    try:
        for _ in range(2):  # as every `make run` does
            monkeypatch.setattr("sys.stdin", io.StringIO("demo-client-secret\n"))
            run("demo", "--identity-provider", provider.issuer)
    finally:
        provider.close()

    configured = IdentityProvider.rows.get(tenant__slug="example-corp")
    assert configured.client_secret() == "demo-client-secret"
    assert list(configured.domains.values_list("domain", "approved")) == [("example.com", True)]
    team = Team.rows.get(tenant__slug="example-corp", name="Sandbox admins")
    assert team.provider_group == "aws-admins"
    assert RoleMapping.objects.filter(team=team, active=True).count() == 1
