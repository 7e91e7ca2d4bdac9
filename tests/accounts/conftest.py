"""Signing in through a real OpenID provider (panva's oidc-provider, tests/idp) on loopback.

Acme's people sign in with addresses at acme.example through the client `acme-portal`;
Globex's at globex.example through `globex-portal`, on the same provider.
"""

import html
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin

import pytest
import requests
from django.core.cache import cache
from joserfc.jwk import RSAKey

from accounts.models import IdentityProvider
from accounts.providers import save_provider
from audit.records import RequestMeta
from tests.servers import identity_provider, identity_provider_missing

CALLBACK = "http://testserver/login/oidc/callback/"
CLIENTS = {
    "acme": {"client_id": "acme-portal", "client_secret": "acme-client-secret"},
    "globex": {"client_id": "globex-portal", "client_secret": "globex-client-secret"},
}
# The provider's people: sub → what it knows of them.
IDP_PEOPLE = {
    "dave-sub": {
        "password": "dave-at-idp",
        "email": "dave@acme.example",
        "given_name": "Dave",
        "family_name": "Ops",
        "groups": ["aws-admins"],
    },
    "erin-sub": {
        "password": "erin-at-idp",
        "email": "erin@acme.example",
        "groups": [],
        "amr": ["pwd", "otp"],
    },
    "frank-sub": {"password": "frank-at-idp", "email": "frank@acme.example", "groups": []},
    "gus-sub": {"password": "gus-at-idp", "email": "gus@globex.example", "groups": ["aws-admins"]},
}


@pytest.fixture(scope="session")
def idp_issuer(tmp_path_factory):
    missing = identity_provider_missing()
    if missing and os.environ.get("PORTCULLIS_REQUIRE_IDP") == "true":
        pytest.fail(f"CI runs the sign-in tests against a real provider, but {missing}")
    if missing:
        pytest.skip(missing)
    clients = [{**client, "redirect_uris": [CALLBACK]} for client in CLIENTS.values()]
    # Each test changes people through change_person(); this copy is the provider's start.
    people = {sub: dict(person) for sub, person in IDP_PEOPLE.items()}
    with identity_provider(
        tmp_path_factory.mktemp("idp"), clients=clients, accounts=people
    ) as issuer:
        yield issuer


@pytest.fixture
def idp(idp_issuer, settings):
    """The provider, with everyone as IDP_PEOPLE says (plain http on loopback: DEBUG on)."""
    settings.DEBUG = True
    cache.clear()
    for sub, person in IDP_PEOPLE.items():
        change_person(idp_issuer, sub, **person)
    return idp_issuer


def change_person(issuer, sub, **claims):
    requests.post(f"{issuer}/test/accounts/{sub}", json=claims, timeout=5).raise_for_status()


def configure(tenant, issuer, *, client="acme", domains=("acme.example",), **fields):
    fields = {"extra_scopes": "groups", "groups_claim": "groups", **fields}
    provider = IdentityProvider(
        tenant=tenant, issuer=issuer, client_id=CLIENTS[client]["client_id"], **fields
    )
    return save_provider(
        provider=provider,
        client_secret=CLIENTS[client]["client_secret"],
        domains=list(domains),
        actor=None,
        meta=RequestMeta(),
    )


@pytest.fixture
def acme_sso(world, idp):
    return configure(world.tenant_a, idp)


@pytest.fixture
def globex_sso(world, idp):
    return configure(world.tenant_b, idp, client="globex", domains=["globex.example"])


def onward(response):
    """The provider's URL on the page that sends the browser there."""
    assert response.status_code == 200, response.content.decode()[:500]
    found = re.search(r'id="continue" href="([^"]+)"', response.content.decode())
    assert found, response.content.decode()[:500]
    return html.unescape(found.group(1))


def start(client, address, **extra):
    """Post the work e-mail on /login/; returns the provider's authorization URL."""
    return onward(client.post("/login/", {"email": address, **extra}))


def at_provider(url, login, password, *, browser=None):
    """Sign in at the provider as a browser would (`browser`: a requests.Session that keeps
    the provider's cookies); returns the callback path it sends the browser back to (with
    code and state)."""
    browser = browser or requests.Session()
    for _ in range(12):
        answer = browser.get(url, allow_redirects=False, timeout=10)
        while answer.status_code in (302, 303):
            url = urljoin(url, answer.headers["Location"])
            if url.startswith(CALLBACK):
                return url.removeprefix("http://testserver")
            answer = browser.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 200, answer.text[:500]
        action = re.search(r'action="([^"]+)"', answer.text).group(1)
        answer = browser.post(
            urljoin(url, action),
            data={"login": login, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code in (302, 303), answer.text[:500]
        url = urljoin(url, answer.headers["Location"])
        if url.startswith(CALLBACK):
            return url.removeprefix("http://testserver")
    raise AssertionError("the provider never sent the browser back")


def sign_in(client, address, sub):
    """The whole flow for one of IDP_PEOPLE; returns the callback's response."""
    callback = at_provider(start(client, address), sub, IDP_PEOPLE[sub]["password"])
    return client.get(callback)


# --- a provider that hands out tokens signed here (the ID token checks) ---------------


class TokenProvider:
    """Discovery, a key set and a token endpoint that hands out `self.token`."""

    def __init__(self):
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "key-1"})]
        self.token = ""
        self.token_requests = []
        # The sign-out page its discovery names (none unless a test sets one).
        self.end_session_endpoint = ""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    document = {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                    }
                    if provider.end_session_endpoint:
                        document["end_session_endpoint"] = provider.end_session_endpoint
                    self._json(document)
                elif self.path == "/jwks":
                    self._json({"keys": [key.as_dict(private=False) for key in provider.keys]})
                else:
                    self.send_error(404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                provider.token_requests.append((dict(self.headers), form))
                self._json(
                    {"id_token": provider.token, "access_token": "at", "token_type": "Bearer"}
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_provider(settings):
    settings.DEBUG = True
    cache.clear()
    provider = TokenProvider()
    yield provider
    provider.close()
