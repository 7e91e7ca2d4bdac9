import argparse
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import providers
from accounts.management.lookup import tenant_by_slug
from accounts.models import IdentityProvider
from audit.records import RequestMeta
from core.validation import describe


class Command(BaseCommand):
    help = (
        "Set up (or change) a tenant's OpenID Connect provider. The client secret is read "
        "from standard input, sealed, and never printed. Prints the redirect URI to register "
        "at the provider."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the tenant's slug")
        parser.add_argument("--issuer", required=True, help="e.g. https://example.okta.com")
        parser.add_argument("--client-id", required=True)
        parser.add_argument(
            "--client-secret-stdin",
            action="store_true",
            help="read the client secret from standard input (required for a new provider)",
        )
        parser.add_argument(
            "--domain",
            action="append",
            required=True,
            metavar="DOMAIN",
            help="an e-mail domain whose people sign in here (repeat for several)",
        )
        parser.add_argument("--groups-claim", help="the claim that lists groups")
        parser.add_argument("--scopes", help="extra scopes, e.g. 'groups'")
        # On, off, or (not given) as they are: running the command again changes only what
        # it names.
        for flag, field, text in [
            ("allow-passwords", "allow_passwords", "people may also use a portal password"),
            ("trust-idp-mfa", "trust_provider_mfa", "count the provider's second factor (amr)"),
            ("create-people", "create_people", "create people at their first sign-in"),
            ("enabled", "enabled", "the provider signs people in"),
        ]:
            parser.add_argument(
                f"--{flag}", dest=field, action=argparse.BooleanOptionalAction, help=text
            )
        parser.add_argument(
            "--portal-url",
            default="https://portal.example.com",
            help="the portal's address, to print the redirect URI",
        )

    def handle(self, *args, slug, **options):
        tenant = tenant_by_slug(slug)
        provider = IdentityProvider.rows.filter(tenant=tenant).first() or IdentityProvider(
            tenant=tenant
        )
        secret = ""
        if options["client_secret_stdin"]:
            secret = sys.stdin.readline().rstrip("\r\n")
            if not secret:
                raise CommandError("no client secret on standard input")
        issuer = options["issuer"].strip()
        provider.issuer = issuer
        provider.client_id = options["client_id"]
        for field in providers.SETTINGS:
            value = options.get("scopes" if field == "extra_scopes" else field)
            if value is not None:
                setattr(provider, field, value)
        try:
            providers.check_issuer(issuer)
            domains = providers.parse_domains(options["domain"], provider=provider)
            providers.save_provider(
                provider=provider,
                client_secret=secret,
                domains=domains,
                actor=None,
                meta=RequestMeta(),
            )
        except ValidationError as error:
            raise CommandError(describe(error)) from None
        redirect_uri = options["portal_url"].rstrip("/") + "/login/oidc/callback/"
        self.stdout.write(f"{tenant.slug}: people of {', '.join(domains)} sign in at {issuer}")
        self.stdout.write(f"redirect URI to register at the provider: {redirect_uri}")
