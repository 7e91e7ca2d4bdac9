from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.lookup import tenant_by_slug
from accounts.models import Team, User
from core.time_fields import END_OF_DAY
from core.validation import describe
from federation import services
from federation.models import RoleMapping


def parse_until(value, zone):
    """An ISO date (the end of that day in `zone`, the tenant's) or an ISO date-time (in
    `zone` unless it names its offset)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--until: '{value}' is not an ISO date such as 2026-12-31") from None
    if len(value) == 10:
        moment = datetime.combine(moment.date(), END_OF_DAY)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, zone)
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
        parser.add_argument(
            "--until",
            metavar="ISO-DATE",
            help="the grant ends then (a date alone: the end of that day in the tenant's "
            "time zone)",
        )
        policy = parser.add_argument_group(
            "access on request",
            "With --on-request the person asks each time and someone else approves a window.",
        )
        policy.add_argument("--on-request", action="store_true", help="used on request only")
        policy.add_argument(
            "--approver",
            action="append",
            default=[],
            metavar="USERNAME",
            help="a person who may approve (repeatable)",
        )
        policy.add_argument(
            "--approver-team",
            action="append",
            default=[],
            metavar="TEAM",
            help="every member of this team of the tenant may approve (repeatable)",
        )
        policy.add_argument(
            "--approvals", type=int, metavar="N", help="distinct approvals needed (1-3, default 1)"
        )
        policy.add_argument(
            "--max-activation",
            type=int,
            metavar="SECONDS",
            help="longest window people may ask for (1800-86400, default 3600)",
        )
        policy.add_argument(
            "--escalate-after",
            type=int,
            metavar="SECONDS",
            help="alert the tenant's admins when a request waits this long (0: never; 3600)",
        )
        policy.add_argument("--ticket-required", action="store_true")
        policy.add_argument("--break-glass", action="store_true", help="allow break-glass")

    def handle(
        self, *args, grantee, role_arn, tenant, team, max_session, label, region, until, **options
    ):
        tenant_obj = tenant_by_slug(tenant)
        policy = self.approval_policy(tenant_obj, options)
        target = {}
        if team:
            found = Team.objects.filter(tenant=tenant_obj, name=grantee).first()
            if found is None:
                raise CommandError(f"no team '{grantee}' in {tenant}")
            target["teams"] = [found]
        else:
            person = User.objects.filter(username__iexact=grantee).first()
            if person is None:
                raise CommandError(f"no user '{grantee}'")
            target["users"] = [person]
        try:
            granted = services.grant_roles(
                actor=None,
                actor_username="(command line)",
                tenant=tenant_obj,
                role_arn=role_arn,
                label=label,
                max_session_seconds=max_session,
                region=region,
                valid_until=parse_until(until, tenant_obj.zone) if until else None,
                **target,
                **policy,
            )
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        for warning in granted.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(str(granted.grants[0].pk))

    def approval_policy(self, tenant, options):
        named = options["approver"] or options["approver_team"] or options["approvals"]
        if not options["on_request"]:
            if named or options["ticket_required"] or options["break_glass"]:
                raise CommandError("approval options need --on-request")
            return {}
        approvers = []
        for name in options["approver"]:
            person = User.objects.filter(username__iexact=name).first()
            if person is None:
                raise CommandError(f"no user '{name}'")
            approvers.append(person)
        teams = []
        for name in options["approver_team"]:
            found = Team.objects.filter(tenant=tenant, name=name).first()
            if found is None:
                raise CommandError(f"no team '{name}' in {tenant.slug}")
            teams.append(found)
        return {
            "activation": RoleMapping.Activation.ON_REQUEST,
            "approvers": approvers,
            "approver_teams": teams,
            "approvals_needed": options["approvals"],
            "max_activation_seconds": options["max_activation"],
            "escalate_after_seconds": options["escalate_after"],
            "ticket_required": options["ticket_required"],
            "break_glass": options["break_glass"],
        }
