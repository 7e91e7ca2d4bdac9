"""Setting up a tenant's identity provider: in the admin (its own admins, operators) and
with `tenant_sso`; the client secret sealed and never shown again."""

import io
import logging

import pytest
from django.core.management import CommandError, call_command
from django.utils.log import AdminEmailHandler

from accounts.models import IdentityProvider, SignInDomain
from audit.models import AuditEvent
from tests.accounts.conftest import configure

pytestmark = pytest.mark.django_db

ADD = "/admin/accounts/identityprovider/add/"


def form(tenant, at, **changes):
    data = {
        "tenant": tenant.pk,
        "issuer": at,
        "client_id": "acme-portal",
        "client_secret": "first-secret-value",
        "domains": "acme.example\nACME.example\nsub.acme.example",
        "extra_scopes": "groups",
        "groups_claim": "groups",
        "create_people": "on",
        "enabled": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_tenant_admin_sets_up_their_providers_and_the_secret_is_never_shown(
    client, world, token_provider
):
    client.force_login(world.alice)

    added = client.post(ADD, form(world.tenant_a, token_provider.issuer))

    assert added.status_code == 302, added.content.decode()[:2000]
    provider = IdentityProvider.rows.get()
    assert provider.tenant == world.tenant_a
    assert provider.client_secret() == "first-secret-value"
    assert "first-secret-value" not in provider.sealed_client_secret
    assert sorted(provider.domains.values_list("domain", flat=True)) == [
        "acme.example",
        "sub.acme.example",
    ]
    change = f"/admin/accounts/identityprovider/{provider.pk}/change/"
    page = client.get(change).content.decode()
    assert "first-secret-value" not in page and provider.sealed_client_secret not in page
    assert "A secret is saved" in page

    # Saved again without a secret: the old one stays; with one, it is replaced.
    kept = client.post(change, form(world.tenant_a, token_provider.issuer, client_secret=""))
    assert kept.status_code == 302
    provider.refresh_from_db()
    assert provider.client_secret() == "first-secret-value"
    client.post(change, form(world.tenant_a, token_provider.issuer, client_secret="second-one"))
    provider.refresh_from_db()
    assert provider.client_secret() == "second-one"

    trail = AuditEvent.objects.filter(action__startswith="provider.")
    assert [e.action for e in trail.order_by("sequence")] == [
        "provider.added",
        "provider.changed",
        "provider.changed",
    ]
    assert "client secret changed" in trail.order_by("sequence").last().detail
    assert not any("second-one" in e.detail or "first-secret" in e.detail for e in trail)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"issuer": "http://192.0.2.10/"}, "must start with https://"),
        # 6to4 of 127.0.0.1: the portal's own host in IPv6 clothes.
        ({"issuer": "https://[2002:7f00:1::]/"}, "the portal sends only to public hosts"),
        ({"client_secret": ""}, "The client secret the provider gave"),
        ({"domains": "not a domain"}, "Not an e-mail domain"),
    ],
)
def test_bad_provider_settings_get_a_clear_message(client, world, token_provider, changes, message):
    client.force_login(world.alice)

    response = client.post(ADD, form(world.tenant_a, token_provider.issuer, **changes))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not IdentityProvider.rows.exists()


def test_an_issuer_whose_discovery_names_another_issuer_is_refused(client, world, token_provider):
    client.force_login(world.alice)

    response = client.post(ADD, form(world.tenant_a, token_provider.issuer + "/other"))

    assert "discovery" in response.content.decode()
    assert not IdentityProvider.rows.exists()


def test_a_domain_is_one_tenants(client, world, token_provider, monkeypatch):
    client.force_login(world.alice)
    client.post(ADD, form(world.tenant_a, token_provider.issuer))
    call_command("tenant_add", "initech", name="Initech", stdout=io.StringIO())
    monkeypatch.setattr("sys.stdin", io.StringIO("s\n"))

    with pytest.raises(CommandError, match="Not available: acme.example"):
        call_command(
            "tenant_sso",
            "initech",
            issuer=token_provider.issuer,
            client_id="initech-portal",
            domain=["acme.example"],
            client_secret_stdin=True,
        )


def test_tenant_sso_sets_up_a_provider_from_the_command_line(world, token_provider, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("secret-from-stdin\n"))
    out = io.StringIO()

    call_command(
        "tenant_sso",
        "acme",
        "--issuer",
        token_provider.issuer,
        "--client-id",
        "acme-portal",
        "--client-secret-stdin",
        "--domain",
        "acme.example",
        "--domain",
        "acme.co.uk",
        "--groups-claim",
        "groups",
        "--allow-passwords",
        "--trust-idp-mfa",
        "--portal-url",
        "https://aws.acme.example",
        stdout=out,
    )

    provider = IdentityProvider.rows.get(tenant=world.tenant_a)
    assert provider.client_secret() == "secret-from-stdin"
    assert (provider.groups_claim, provider.allow_passwords, provider.trust_provider_mfa) == (
        "groups",
        True,
        True,
    )
    assert set(SignInDomain.rows.values_list("domain", flat=True)) == {"acme.example", "acme.co.uk"}
    assert "https://aws.acme.example/login/oidc/callback/" in out.getvalue()
    assert "secret-from-stdin" not in out.getvalue()
    assert AuditEvent.objects.filter(action="provider.added", tenant=world.tenant_a).exists()

    # Run again without a secret: what it names changes, the rest (the secret) stays.
    call_command(
        "tenant_sso",
        "acme",
        "--issuer",
        token_provider.issuer,
        "--client-id",
        "acme-portal",
        "--domain",
        "acme.example",
        "--no-allow-passwords",
        stdout=io.StringIO(),
    )
    provider.refresh_from_db()
    assert provider.client_secret() == "secret-from-stdin"
    assert not provider.allow_passwords
    assert provider.trust_provider_mfa and provider.groups_claim == "groups"


def test_tenant_sso_needs_a_secret_for_a_new_provider(world, token_provider):
    with pytest.raises(CommandError, match="A client secret is needed"):
        call_command(
            "tenant_sso",
            "acme",
            issuer=token_provider.issuer,
            client_id="acme-portal",
            domain=["acme.example"],
        )


def test_a_plain_http_issuer_is_refused_outside_development(world, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="https://"):
        call_command(
            "tenant_sso",
            "acme",
            issuer="http://127.0.0.1:9/",
            client_id="acme-portal",
            domain=["acme.example"],
        )


def test_a_tenant_admins_domain_routes_nobody_until_an_operator_approves_it(
    client, world, token_provider
):
    client.force_login(world.alice)
    client.post(ADD, form(world.tenant_a, token_provider.issuer))
    domain = SignInDomain.rows.get(domain="acme.example")
    assert not domain.approved
    page = client.get(f"/admin/accounts/identityprovider/{domain.provider_id}/change/")
    assert "Waiting for an operator" in page.content.decode()
    # A tenant admin cannot approve their own claim.
    assert client.get("/admin/accounts/signindomain/").status_code == 403

    sso_client = client.__class__()
    assert sso_client.post("/login/", {"email": "dave@acme.example"}).status_code == 403
    # Until then the tenant's slug finds its provider.
    assert sso_client.post("/login/", {"email": "acme"}).status_code == 200

    operator = world.alice.__class__.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(operator)
    client.post(
        "/admin/accounts/signindomain/",
        {"action": "approve", "_selected_action": [domain.pk]},
    )

    domain.refresh_from_db()
    assert domain.approved
    assert sso_client.post("/login/", {"email": "dave@acme.example"}).status_code == 200
    assert AuditEvent.objects.filter(
        action="provider.changed", detail="domain acme.example approved by an operator"
    ).exists()


@pytest.fixture
def reports_with_variables():
    """Django's error e-mail to ADMINS as some deployments send it: with the HTML page that
    shows each frame's variables."""
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)


def test_a_crash_while_saving_a_provider_keeps_the_client_secret_out_of_the_error_report(
    client, world, token_provider, settings, monkeypatch, caplog, mailoutbox, reports_with_variables
):
    provider = configure(world.tenant_a, token_provider.issuer)
    settings.DEBUG = False  # Django's error report goes to ADMINS, filtered, in production
    settings.ADMINS = [("Ops", "ops@example.com")]
    caplog.set_level(logging.DEBUG)

    def audit_store_down(*args, **kwargs):
        raise RuntimeError("the audit store is down")

    monkeypatch.setattr("accounts.providers.record", audit_store_down)
    client.raise_request_exception = False
    client.force_login(world.alice)
    change = f"/admin/accounts/identityprovider/{provider.pk}/change/"

    response = client.post(
        change, form(world.tenant_a, token_provider.issuer, client_secret="brand-new-secret")
    )

    assert response.status_code == 500
    with_variables, plain = sorted(mailoutbox, key=lambda mail: not mail.alternatives)
    assert "the audit store is down" in plain.body
    assert "client_secret" in plain.body and "********************" in plain.body
    (page, _), *_ = with_variables.alternatives
    assert "save_provider" in page  # the frames and their variables are in the report
    texts = [plain.body, with_variables.body, page, caplog.text]
    assert all("brand-new-secret" not in text for text in texts)
    provider.refresh_from_db()
    assert provider.client_secret() == "acme-client-secret"
