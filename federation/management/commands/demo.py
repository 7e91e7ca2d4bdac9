import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import providers
from accounts.models import IdentityProvider, Membership, Team, Tenant, User
from audit.records import RequestMeta
from core.arns import RoleArn
from core.validation import describe
from federation import aws, services
from federation.models import AwsAccount, RoleMapping

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEMO_ROLE = "PortcullisDemoAdmin"
DEMO_ACCOUNT_NAME = "Sandbox"
# Used on request: bob asks, alice approves (access on request in the README).
DEMO_PRODUCTION_ROLE = "PortcullisDemoProduction"
DEMO_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def demo_person(tenant, username, *, admin=False):
    """A member (or the admin) of the demo tenant whose password is their name +
    "password"."""
    person = User.objects.filter(username__iexact=username).first() or User(username=username)
    person.first_name, person.email = username.title(), f"{username}@example.com"
    # Only when it differs: a new password would end their API tokens at every run.
    if not person.check_password(f"{username}password"):
        person.set_password(f"{username}password")
    person.save()
    membership, _ = Membership.objects.get_or_create(user=person, tenant=tenant)
    if admin and membership.role != Membership.Role.ADMIN:
        membership.role = Membership.Role.ADMIN
        membership.save()
    return person


def grant_once(*, tenant, role_arn, label, user=None, team=None, **policy):
    """A 12-hour grant of the role, unless the person (or team) already holds one."""
    if RoleMapping.objects.filter(
        tenant=tenant, user=user, team=team, role_arn=role_arn, active=True
    ).exists():
        return
    services.grant_role(
        actor=None,
        actor_username="(demo)",
        tenant=tenant,
        user=user,
        team=team,
        role_arn=role_arn,
        label=label,
        max_session_seconds=43200,
        region="us-east-1",
        **policy,
    )


# The demo's company account: `make run` starts a local OpenID provider (tests/idp) with
# this client, whose people sign in with addresses at the demo's domain.
DEMO_CLIENT_ID = "portcullis-demo"
DEMO_DOMAIN = "example.com"
DEMO_GROUP = "aws-admins"


def demo_identity_provider(tenant, *, issuer, client_secret, role_arn):
    """Example Corp signs in through the local provider; its group aws-admins is the team
    "Sandbox admins", which holds the sandbox administrator role."""
    provider = IdentityProvider.rows.filter(tenant=tenant).first() or IdentityProvider(
        tenant=tenant
    )
    provider.issuer, provider.client_id = issuer, DEMO_CLIENT_ID
    provider.extra_scopes = provider.groups_claim = "groups"
    provider.allow_passwords = provider.trust_provider_mfa = True
    providers.save_provider(
        provider=provider,
        client_secret=client_secret,
        domains=[DEMO_DOMAIN],
        actor=None,
        meta=RequestMeta(),
    )
    team, _ = Team.rows.get_or_create(
        tenant=tenant, name="Sandbox admins", defaults={"provider_group": DEMO_GROUP}
    )
    grant_once(tenant=tenant, team=team, role_arn=role_arn, label="Sandbox administrator")


class Command(BaseCommand):
    help = (
        "Seed the sandbox demo: tenant 'Example Corp', two roles in the sandbox AWS, "
        "bob / bobpassword with a 12-hour grant of one and the other on request, and "
        "alice / alicepassword, the tenant's admin, who approves. With --identity-provider, "
        "Example Corp also "
        "signs in through that local provider. Refuses to run against real AWS."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--identity-provider",
            metavar="ISSUER",
            help="a local OpenID provider (make run starts one) whose client "
            f"'{DEMO_CLIENT_ID}' has the secret given on standard input",
        )

    def handle(self, *args, identity_provider=None, **options):
        hosts = aws.endpoint_hosts()
        if not set(hosts) <= LOOPBACK:
            raise CommandError(
                f"refusing to seed the demo against real AWS (STS at {hosts[0]}, sign-in at "
                f"{hosts[1]}); run it with the sandbox (AWS_PORTAL_SANDBOX=true)"
            )
        tenant, _ = Tenant.objects.get_or_create(
            slug="example-corp", defaults={"name": "Example Corp"}
        )
        try:
            role_arn, production_arn = (
                aws.get_role_arn(name)
                or services.create_broker_role(
                    name=name,
                    tenant=tenant,
                    max_session_seconds=43200,
                    # The sandbox has nothing to protect; a real role gets a narrow policy.
                    policy_document=json.dumps(DEMO_POLICY),
                )
                for name in (DEMO_ROLE, DEMO_PRODUCTION_ROLE)
            )
        except aws.AwsError as error:
            raise CommandError(f"the sandbox AWS did not answer: {error.message}") from None

        with transaction.atomic():
            # The sandbox is the one AWS account here: the grants list and the grant page's
            # roles name it (a name someone gave it since is kept).
            AwsAccount.objects.get_or_create(
                tenant=tenant,
                account_id=RoleArn.parse(role_arn).account_id,
                defaults={"name": DEMO_ACCOUNT_NAME},
            )
            bob = demo_person(tenant, "bob")
            alice = demo_person(tenant, "alice", admin=True)
            grant_once(
                tenant=tenant,
                user=bob,
                role_arn=role_arn,
                label="Sandbox administrator",
            )
            grant_once(
                tenant=tenant,
                user=bob,
                role_arn=production_arn,
                label="Production (on request)",
                activation=RoleMapping.Activation.ON_REQUEST,
                approvers=[alice],
                max_activation_seconds=4 * 3600,
                break_glass=True,
            )
        if identity_provider:
            secret = sys.stdin.readline().strip()
            try:
                demo_identity_provider(
                    tenant, issuer=identity_provider, client_secret=secret, role_arn=role_arn
                )
            except ValidationError as error:
                raise CommandError(describe(error)) from None
        self.stderr.write(
            f"Demo ready: tenant {tenant.name} (external id {tenant.external_id}), "
            f"roles {role_arn} and {production_arn} (on request), users bob / bobpassword "
            "and alice / alicepassword (Example Corp's admin; approves bob's requests)."
        )
