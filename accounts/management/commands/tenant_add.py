from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import MAX_SESSION_SECONDS, Tenant
from core.validation import describe


class Command(BaseCommand):
    help = (
        "Create a tenant and print its external id, the ExternalId its AWS role trust "
        "policies must require."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="short unique name, e.g. example-corp")
        parser.add_argument("--name", required=True, help="display name, e.g. 'Example Corp'")
        parser.add_argument(
            "--max-session",
            type=int,
            default=MAX_SESSION_SECONDS,
            metavar="SECONDS",
            help="ceiling for every role session in this tenant (900-43200, default 43200)",
        )

    def handle(self, *args, slug, name, max_session, **options):
        tenant = Tenant(slug=slug, name=name, max_session_seconds=max_session)
        try:
            tenant.full_clean()
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        with transaction.atomic():
            tenant.save()
        self.stdout.write(tenant.external_id)
