from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.management.lookup import tenant_by_slug
from federation import aws, services


class Command(BaseCommand):
    help = (
        "Create an IAM role that the portal can assume for a tenant: a trust policy that "
        "trusts only the portal's principal and requires the tenant's ExternalId, plus the "
        "permissions you give it. Prints the role ARN."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="role name, e.g. ExampleCorpReadOnly")
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument(
            "--principal",
            default="",
            help="ARN allowed to assume the role (default: the portal's account root)",
        )
        parser.add_argument("--partition", default="aws", choices=sorted(aws.PARTITIONS))
        parser.add_argument(
            "--max-session",
            type=int,
            default=43200,
            metavar="SECONDS",
            help="the role's MaxSessionDuration (3600-43200, default 43200)",
        )
        parser.add_argument(
            "--policy-document",
            metavar="FILE",
            help="JSON file with the role's permissions (an inline policy)",
        )
        parser.add_argument(
            "--managed-policy-arn",
            action="append",
            default=[],
            metavar="ARN",
            help="attach a managed policy (repeatable)",
        )

    def handle(
        self,
        *args,
        name,
        tenant,
        principal,
        partition,
        max_session,
        policy_document,
        managed_policy_arn,
        **options,
    ):
        tenant_obj = tenant_by_slug(tenant)
        if not 3600 <= max_session <= 43200:
            raise CommandError("--max-session must be between 3600 and 43200")
        document = ""
        if policy_document:
            try:
                document = Path(policy_document).read_text()
            except OSError as error:
                raise CommandError(f"cannot read {policy_document}: {error.strerror}") from None
        try:
            arn = services.create_broker_role(
                name=name,
                tenant=tenant_obj,
                principal=principal,
                partition=partition,
                max_session_seconds=max_session,
                policy_document=document,
                managed_policy_arns=managed_policy_arn,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        except aws.AwsError as error:
            raise CommandError(f"{error.message} [{error.code}]") from None
        self.stdout.write(arn)
