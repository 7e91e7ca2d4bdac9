import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Membership, Tenant, User
from federation import aws, services
from federation.models import RoleMapping

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEMO_ROLE = "PortcullisDemoAdmin"
DEMO_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


class Command(BaseCommand):
    help = (
        "Seed the sandbox demo: tenant 'Example Corp', a role in the sandbox AWS, and "
        "bob / bobpassword with a 12-hour grant. Refuses to run against real AWS."
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
            role_arn = aws.get_role_arn(DEMO_ROLE) or services.create_broker_role(
                name=DEMO_ROLE,
                tenant=tenant,
                max_session_seconds=43200,
                # The sandbox has nothing to protect; a real role gets a narrow policy.
                policy_document=json.dumps(DEMO_POLICY),
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
        self.stderr.write(
            f"Demo ready: tenant {tenant.name} (external id {tenant.external_id}), "
            f"role {role_arn}, user bob / bobpassword."
        )
