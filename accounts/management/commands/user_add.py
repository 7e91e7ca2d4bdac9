import secrets
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.management.lookup import tenant_by_slug
from accounts.models import Membership, User
from core.validation import describe


class Command(BaseCommand):
    help = (
        "Create a user in a tenant. Without --password-stdin a strong password is "
        "generated and printed once on standard output."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
        parser.add_argument(
            "--admin",
            action="store_true",
            help="make the user a tenant admin (admin membership and access to the admin site)",
        )
        parser.add_argument("--email", default="", help="e-mail address")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input instead of generating one",
        )

    def handle(self, *args, username, tenant, admin, email, password_stdin, **options):
        tenant_obj = tenant_by_slug(tenant)

        user = User(username=username, email=email, is_staff=admin)
        generated = not password_stdin
        if password_stdin:
            password = options.get("stdin", sys.stdin).read().rstrip("\r\n")
            if not password:
                raise CommandError("the password read from standard input is empty")
            try:
                validate_password(password, user=user)
            except ValidationError as error:
                raise CommandError(f"password refused: {describe(error)}") from None
        else:
            password = secrets.token_urlsafe(18)
        user.set_password(password)

        try:
            user.full_clean()
        except ValidationError as error:
            raise CommandError(describe(error)) from None

        role = Membership.Role.ADMIN if admin else Membership.Role.MEMBER
        with transaction.atomic():
            user.save()
            Membership.objects.create(user=user, tenant=tenant_obj, role=role)

        if generated:
            self.stdout.write(password)
        self.stderr.write(
            f"Created {user.username} as {role.label.lower()} of {tenant_obj.slug}"
            + (". The password above is shown only this once." if generated else ".")
        )
