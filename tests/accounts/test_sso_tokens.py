"""The ID token's checks, one by one, with tokens signed here: a small provider on loopback
answers the portal's discovery, key set and token requests with the token a test made."""

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from accounts.models import SignInDomain, User
from audit.models import AuditEvent
from core.sessions import AUTHENTICATED_AT
from tests.accounts.conftest import CLIENTS, TokenProvider, configure, onward, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(world, token_provider):
    return configure(world.tenant_a, token_provider.issuer, groups_claim="", extra_scopes="")


def sign(claims, key, alg="RS256", kid="key-1"):
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims):
    return f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims, key):
    """The key confusion attack: HMAC with the provider's public key as the secret."""
    head = b64(json.dumps({"alg": "HS256", "kid": "key-1"}).encode())
    body = b64(json.dumps(claims).encode())
    secret = key.as_pem(private=False)
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def begin(client):
    """Start a sign-in; returns (state, nonce) the portal sent to the provider."""
    query = parse_qs(urlsplit(start(client, "dave@acme.example")).query)
    return query["state"][0], query["nonce"][0]


def claims_for(provider, expected_nonce, **changes):
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENTS["acme"]["client_id"],
        "sub": "dave-sub",
        "email": "dave@acme.example",
        "iat": now,
        "exp": now + 300,
        "nonce": expected_nonce,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def come_back(client, state):
    return client.get("/login/oidc/callback/", {"state": state, "code": "the-code"})


def test_a_well_signed_token_signs_in_and_the_code_goes_with_its_verifier(
    client, token_provider, acme
):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])

    assert come_back(client, state).status_code == 302
    assert User.objects.filter(username="dave@acme.example").exists()
    headers, form = token_provider.token_requests[0]
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert len(form["code_verifier"][0]) >= 43
    # The client authenticates with HTTP Basic; its secret never goes in the form.
    assert headers["Authorization"].startswith("Basic ") and "client_secret" not in form


def refused(client, provider, make_token, reason):
    state, nonce = begin(client)
    provider.token = make_token(nonce)
    response = come_back(client, state)
    assert response.status_code == 403
    assert b"Could not sign you in" in response.content
    assert AuditEvent.objects.filter(action="login.sso_failed", detail=reason).exists(), list(
        AuditEvent.objects.filter(action="login.sso_failed").values_list("detail", flat=True)
    )
    assert not User.objects.filter(username="dave@acme.example").exists()


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired token"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nonce": "not-the-nonce"}, "nonce mismatch"),
        ({"nonce": None}, "nonce mismatch"),
        ({"aud": ["acme-portal", "other"], "azp": "other"}, "wrong authorized party (azp)"),
        ({"sub": None}, "no subject"),
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(client, token_provider, acme, changes, reason):
    refused(
        client,
        token_provider,
        lambda nonce: sign(claims_for(token_provider, nonce, **changes), token_provider.keys[0]),
        reason,
    )


def test_a_token_signed_by_another_key_is_refused(client, token_provider, acme):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    refused(
        client,
        token_provider,
        lambda nonce: sign(claims_for(token_provider, nonce), stranger),
        "bad signature",
    )


def test_an_unsigned_token_is_refused(client, token_provider, acme):
    refused(
        client,
        token_provider,
        lambda nonce: unsigned(claims_for(token_provider, nonce)),
        "signature algorithm not allowed",
    )


def test_hs256_with_the_public_key_as_secret_is_refused(client, token_provider, acme):
    refused(
        client,
        token_provider,
        lambda nonce: hs256_with_public_key(
            claims_for(token_provider, nonce), token_provider.keys[0]
        ),
        "signature algorithm not allowed",
    )


def test_a_key_the_provider_does_not_publish_is_refused(client, token_provider, acme):
    unknown = RSAKey.generate_key(2048, parameters={"kid": "key-9"})
    refused(
        client,
        token_provider,
        lambda nonce: sign(claims_for(token_provider, nonce), unknown, kid="key-9"),
        "unknown signing key",
    )


def test_a_rotated_key_is_fetched_once_and_accepted(client, token_provider, acme):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    assert come_back(client, state).status_code == 302
    client.post("/logout/")

    # The provider rotates to an ES256 key the portal has not seen (its key set is cached).
    token_provider.keys = [ECKey.generate_key("P-256", parameters={"kid": "key-2"})]
    state, nonce = begin(client)
    token_provider.token = sign(
        claims_for(token_provider, nonce), token_provider.keys[0], alg="ES256", kid="key-2"
    )

    assert come_back(client, state).status_code == 302


def test_a_token_older_than_the_attempt_does_not_count_as_signing_in_again(
    client, token_provider, acme
):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    come_back(client, state)
    going = onward(client.post("/login/confirm/", {"action": "provider", "next": "/"}))
    query = parse_qs(urlsplit(going).query)
    stale = int(time.time()) - 3600
    token_provider.token = sign(
        claims_for(token_provider, query["nonce"][0], auth_time=stale), token_provider.keys[0]
    )

    assert come_back(client, query["state"][0]).status_code == 403
    assert AuditEvent.objects.filter(
        action="login.sso_failed", detail="the provider did not sign the person in again"
    ).exists()


# --- isolation: a token for tenant A never signs anyone into tenant B --------------------


def globex_at(world, provider):
    """Globex signs in through `provider`, with its own client."""
    return configure(
        world.tenant_b,
        provider.issuer,
        client="globex",
        domains=["globex.example"],
        groups_claim="",
        extra_scopes="",
    )


@pytest.fixture
def second_provider(settings):
    provider = TokenProvider()
    yield provider
    provider.close()


def test_a_token_from_tenant_a_s_provider_cannot_sign_into_tenant_b(
    client, world, token_provider, second_provider, acme
):
    # Globex has its own provider (other keys); a token Acme's provider signed, with
    # Globex's issuer and client written in, is still refused by Globex.
    globex_at(world, second_provider)
    query = parse_qs(urlsplit(start(client, "gus@globex.example")).query)
    crafted = claims_for(
        token_provider,
        query["nonce"][0],
        iss=second_provider.issuer,
        aud=CLIENTS["globex"]["client_id"],
    )
    second_provider.token = sign(crafted, token_provider.keys[0])

    assert come_back(client, query["state"][0]).status_code == 403
    assert AuditEvent.objects.filter(
        action="login.sso_failed", tenant=world.tenant_b, detail="bad signature"
    ).exists()
    assert not world.tenant_b.memberships.exclude(user=world.carol).exists()


def test_on_a_shared_provider_a_token_for_tenant_a_s_client_cannot_sign_into_tenant_b(
    client, world, token_provider, acme
):
    globex_at(world, token_provider)
    query = parse_qs(urlsplit(start(client, "gus@globex.example")).query)
    # Signed by the shared provider, but for Acme's client.
    token_provider.token = sign(
        claims_for(token_provider, query["nonce"][0]), token_provider.keys[0]
    )

    assert come_back(client, query["state"][0]).status_code == 403
    assert AuditEvent.objects.filter(
        action="login.sso_failed", tenant=world.tenant_b, detail="wrong audience"
    ).exists()


def test_the_same_subject_in_two_tenants_is_two_people(client, world, token_provider, acme):
    globex_at(world, token_provider)
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    come_back(client, state)
    client.post("/logout/")
    query = parse_qs(urlsplit(start(client, "gus@globex.example")).query)
    token_provider.token = sign(
        claims_for(
            token_provider,
            query["nonce"][0],
            aud=CLIENTS["globex"]["client_id"],
            email="dave@globex.example",
        ),
        token_provider.keys[0],
    )
    assert come_back(client, query["state"][0]).status_code == 302

    acme_person = User.objects.get(
        identities__tenant=world.tenant_a, identities__subject="dave-sub"
    )
    globex_person = User.objects.get(
        identities__tenant=world.tenant_b, identities__subject="dave-sub"
    )
    assert acme_person != globex_person
    assert list(acme_person.memberships.values_list("tenant", flat=True)) == [world.tenant_a.pk]
    assert list(globex_person.memberships.values_list("tenant", flat=True)) == [world.tenant_b.pk]


def test_two_tenants_cannot_share_one_client_of_one_provider(world, token_provider, acme):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Another tenant uses this client"):
        configure(world.tenant_b, token_provider.issuer, domains=["globex.example"])


def test_a_nonce_wrapped_in_a_list_is_refused(client, token_provider, acme):
    refused(
        client,
        token_provider,
        lambda nonce: sign(
            claims_for(token_provider, nonce, nonce=[nonce]), token_provider.keys[0]
        ),
        "nonce mismatch",
    )


def test_first_sign_ins_outside_the_tenants_domains_create_nobody(client, token_provider, acme):
    refused(
        client,
        token_provider,
        lambda nonce: sign(
            claims_for(token_provider, nonce, email="ceo@othercorp.example"), token_provider.keys[0]
        ),
        "e-mail missing, unverified or outside the tenant's approved domains",
    )
    refused(
        client,
        token_provider,
        lambda nonce: sign(
            claims_for(token_provider, nonce, email_verified=False), token_provider.keys[0]
        ),
        "e-mail missing, unverified or outside the tenant's approved domains",
    )


def test_a_new_issuer_does_not_inherit_the_old_ones_people(
    client, world, token_provider, second_provider, acme
):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    come_back(client, state)
    first = User.objects.get(username="dave@acme.example")
    client.post("/logout/")

    # The tenant's admin points the tenant at another provider that also says "dave-sub".
    acme.issuer = second_provider.issuer
    acme.save()
    state, nonce = begin(client)
    second_provider.token = sign(claims_for(second_provider, nonce), second_provider.keys[0])
    come_back(client, state)

    signed_in = User.objects.get(pk=client.session["_auth_user_id"])
    assert signed_in != first
    assert signed_in.username == "dave-2@acme.example"


def test_the_providers_sign_in_time_is_how_fresh_the_session_is(client, token_provider, acme):
    state, nonce = begin(client)
    an_hour_ago = int(time.time()) - 3600
    token_provider.token = sign(
        claims_for(token_provider, nonce, auth_time=an_hour_ago), token_provider.keys[0]
    )
    come_back(client, state)

    assert client.session[AUTHENTICATED_AT] == an_hour_ago


def test_a_client_secret_sealed_under_an_old_key_gets_the_neutral_page(
    client, token_provider, acme, settings
):
    settings.SEALING_KEYS = ["a-new-sealing-key"]
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])

    assert come_back(client, state).status_code == 403
    assert AuditEvent.objects.filter(
        action="login.sso_failed",
        detail="client secret sealed under another key: enter it again",
    ).exists()


def test_switching_the_provider_off_ends_its_sessions(client, token_provider, acme):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    come_back(client, state)
    assert client.get("/").status_code == 200

    acme.enabled = False
    acme.save()

    assert client.get("/")["Location"].startswith("/login/")


# --- Google: a personal account registered with a company address is not the company's ----

NOT_HOSTED = "not an account of the tenant's approved domains (hd)"


@pytest.fixture
def google_like(token_provider, acme, settings):
    """The provider is treated as Google is: it signs in personal accounts too."""
    settings.SSO_HOSTED_DOMAIN_ISSUERS = [token_provider.issuer]
    return token_provider


@pytest.mark.parametrize("hd", [None, "othercorp.example", ["acme.example"]])
def test_a_google_token_without_the_tenants_hosted_domain_is_refused(client, google_like, hd):
    # e-mail verified and in the tenant's domain: all a personal Google account can show.
    refused(
        client,
        google_like,
        lambda nonce: sign(
            claims_for(google_like, nonce, email_verified=True, hd=hd), google_like.keys[0]
        ),
        NOT_HOSTED,
    )


def test_a_google_token_of_an_unapproved_domain_is_refused(client, world, google_like):
    SignInDomain.rows.update(approved=False)
    query = parse_qs(urlsplit(start(client, "acme")).query)
    google_like.token = sign(
        claims_for(google_like, query["nonce"][0], hd="acme.example"), google_like.keys[0]
    )

    assert come_back(client, query["state"][0]).status_code == 403
    assert AuditEvent.objects.filter(action="login.sso_failed", detail=NOT_HOSTED).exists()


def test_a_google_workspace_account_of_the_tenant_signs_in_and_needs_hd_every_time(
    client, google_like
):
    state, nonce = begin(client)
    google_like.token = sign(claims_for(google_like, nonce, hd="ACME.example"), google_like.keys[0])
    assert come_back(client, state).status_code == 302
    client.post("/logout/")

    # Already linked, the same subject without hd is still refused.
    state, nonce = begin(client)
    google_like.token = sign(claims_for(google_like, nonce), google_like.keys[0])

    assert come_back(client, state).status_code == 403
    assert AuditEvent.objects.filter(action="login.sso_failed", detail=NOT_HOSTED).exists()


def test_other_providers_need_no_hosted_domain(client, token_provider, acme):
    state, nonce = begin(client)
    token_provider.token = sign(claims_for(token_provider, nonce), token_provider.keys[0])

    assert come_back(client, state).status_code == 302


# --- signing out at the provider -------------------------------------------------------


@pytest.mark.parametrize(
    "sign_out_page, offered",
    [
        ("https://login.acme.example/oidc/logout", True),
        # Okta refuses a sign-out without the ID token, which the portal does not keep.
        ("https://acme.okta.com/oauth2/v1/logout", False),
    ],
)
def test_signing_out_offers_the_providers_sign_out_page_when_it_can_work(
    client, token_provider, acme, sign_out_page, offered
):
    token_provider.end_session_endpoint = sign_out_page
    state, nonce = begin(client)
    token = sign(claims_for(token_provider, nonce), token_provider.keys[0])
    token_provider.token = token
    assert come_back(client, state).status_code == 302
    # The ID token is kept nowhere, not even for the sign-out link: not in the session.
    sessions = [json.dumps(s.get_decoded(), default=str) for s in Session.objects.all()]
    assert sessions and not any(token in kept or nonce in kept for kept in sessions)

    page = client.post("/logout/")

    assert (f'href="{sign_out_page}?client_id=acme-portal' in page.content.decode()) is offered
    assert page.status_code == (200 if offered else 302)
    assert "id_token_hint" not in page.content.decode()
