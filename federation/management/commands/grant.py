from datetime import UTC, datetime, time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.lookup import tenant_by_slug
from accounts.models import Team, User
from core.validation import describe
from federation import services


def parse_until(value):
    """An ISO date (end of that day, UTC) or an ISO date-time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--until: '{value}' is not an ISO date such as 2026-12-31") from None
    if len(value) == 10:
        moment = datetime.combine(moment.date(), time.max)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


class Command(BaseCommand):
    help = (
        "Grant an IAM role to a user (or, with --team, to every member of a team). "
        "Prints the grant id."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "grantee", metavar="USERNAME", help="username, or team name with --team"
        )
        parser.add_argument("role_arn", metavar="ROLE_ARN")
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--team", action="store_true", help="the grantee is a team")
        parser.add_argument(
            "--max-session",
            type=int,
            metavar="SECONDS",
            help="longest session (900-43200, default 3600 or the tenant's limit)",
        )
        parser.add_argument("--label", default="", help="what people see (default: the role name)")
        parser.add_argument("--region", default="", help="default console region")
        parser.add_argument("--until", metavar="ISO-DATE", help="the grant ends then")

    def handle(
        self, *args, grantee, role_arn, tenant, team, max_session, label, region, until, **options
    ):
        tenant_obj = tenant_by_slug(tenant)
        target = {}
        if team:
            target["team"] = Team.objects.filter(tenant=tenant_obj, name=grantee).first()
            if target["team"] is None:
                raise CommandError(f"no team '{grantee}' in {tenant}")
        else:
            target["user"] = User.objects.filter(username__iexact=grantee).first()
            if target["user"] is None:
                raise CommandError(f"no user '{grantee}'")
        try:
            mapping = services.grant_role(
                actor=None,
                actor_username="(command line)",
                tenant=tenant_obj,
                role_arn=role_arn,
                label=label,
                max_session_seconds=max_session,
                region=region,
                valid_until=parse_until(until) if until else None,
                **target,
            )
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(str(mapping.pk))
