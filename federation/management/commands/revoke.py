from django.core.management.base import BaseCommand, CommandError

from accounts.management.lookup import tenant_by_slug
from federation import services
from federation.models import RoleMapping


class Command(BaseCommand):
    help = "End a user's (or, with --team, a team's) grants of an IAM role, effective at once."

    def add_arguments(self, parser):
        parser.add_argument(
            "grantee", metavar="USERNAME", help="username, or team name with --team"
        )
        parser.add_argument("role_arn", metavar="ROLE_ARN")
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--team", action="store_true", help="the grantee is a team")

    def handle(self, *args, grantee, role_arn, tenant, team, **options):
        tenant_obj = tenant_by_slug(tenant)
        grants = RoleMapping.objects.filter(tenant=tenant_obj, role_arn=role_arn, active=True)
        if team:
            grants = grants.filter(team__name=grantee)
        else:
            grants = grants.filter(user__username__iexact=grantee)
        grants = list(grants)
        if not grants:
            raise CommandError(f"no active grant of {role_arn} to '{grantee}' in {tenant}")
        for mapping in grants:
            services.revoke_grant(actor=None, actor_username="(command line)", mapping=mapping)
        self.stdout.write(f"revoked {len(grants)} grant(s)")
