import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Membership, Tenant, User
from federation import aws, services
from federation.models import RoleMapping

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEMO_ROLE = "PortcullisDemoAdmin"
# Used on request: bob asks, alice approves (access on request in the README).
DEMO_PRODUCTION_ROLE = "PortcullisDemoProduction"
DEMO_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


class Command(BaseCommand):
    help = (
        "Seed the sandbox demo: tenant 'Example Corp', two roles in the sandbox AWS, "
        "bob / bobpassword with a 12-hour grant of one and the other on request, and "
        "alice / alicepassword who approves. Refuses to run against real AWS."
    )

    def handle(self, *args, **options):
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
            bob = User.objects.filter(username__iexact="bob").first() or User(username="bob")
            bob.first_name, bob.email = "Bob", "bob@example.com"
            # Only when it differs: a new password would end bob's API tokens at every run.
            if not bob.check_password("bobpassword"):
                bob.set_password("bobpassword")
            bob.save()
            Membership.objects.get_or_create(user=bob, tenant=tenant)
            alice = User.objects.filter(username__iexact="alice").first() or User(username="alice")
            alice.first_name, alice.email = "Alice", "alice@example.com"
            if not alice.check_password("alicepassword"):
                alice.set_password("alicepassword")
            alice.save()
            Membership.objects.get_or_create(user=alice, tenant=tenant)
            grant = RoleMapping.objects.filter(
                tenant=tenant, user=bob, role_arn=role_arn, active=True
            ).first()
            if grant is None:
                services.grant_role(
                    actor=None,
                    actor_username="(demo)",
                    tenant=tenant,
                    user=bob,
                    role_arn=role_arn,
                    label="Sandbox administrator",
                    max_session_seconds=43200,
                    region="us-east-1",
                )
            if not RoleMapping.objects.filter(
                tenant=tenant, user=bob, role_arn=production_arn, active=True
            ).exists():
                services.grant_role(
                    actor=None,
                    actor_username="(demo)",
                    tenant=tenant,
                    user=bob,
                    role_arn=production_arn,
                    label="Production (on request)",
                    max_session_seconds=43200,
                    region="us-east-1",
                    activation=RoleMapping.Activation.ON_REQUEST,
                    approvers=[alice],
                    max_activation_seconds=4 * 3600,
                    break_glass=True,
                )
        self.stderr.write(
            f"Demo ready: tenant {tenant.name} (external id {tenant.external_id}), "
            f"roles {role_arn} and {production_arn} (on request), users bob / bobpassword "
            "and alice / alicepassword (approves bob's requests)."
        )
