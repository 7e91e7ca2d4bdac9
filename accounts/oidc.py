"""Talking to a tenant's OpenID provider: discovery, its keys, the authorization URL, the
code exchange and the ID token's checks.

Authlib makes the PKCE challenge and joserfc (Authlib's JOSE library) verifies the ID
token; nothing of JOSE is written here. Every request goes through core.outbound, so a
provider URL a tenant admin typed cannot reach the portal's own network.
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet

from core import outbound, sealing

# Signatures the portal accepts on an ID token: never `none`, never HS256 (a provider's
# public key used as an HMAC secret).
ALGORITHMS = ["RS256", "ES256"]

# `amr` values that show the provider asked for a second factor (RFC 8176).
SECOND_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "swk"})


class Refused(Exception):
    """The provider, or what it sent, is not good enough to sign anyone in. The text is
    the reason for the audit record (never a token or a secret)."""


@dataclass(frozen=True)
class Metadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    end_session_endpoint: str
    token_auth_methods: tuple[str, ...]


def check_url(url: str) -> list[str]:
    """The addresses a provider URL may be reached at (raises ValidationError): https on a
    public host; a private one with SSO_ALLOW_PRIVATE_ISSUERS; plain http to this machine
    with DEBUG on only."""
    return outbound.allowed_addresses(
        url,
        allow_private=settings.SSO_ALLOW_PRIVATE_ISSUERS,
        allow_http=False,
        allow_loopback_http=settings.DEBUG,
    )


def _browser_url(url: Any) -> bool:
    """An endpoint the browser is sent to: https (plain http to this machine with DEBUG)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.username is not None or not parts.hostname:
        return False
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    return parts.scheme == "https" or (parts.scheme == "http" and loopback and settings.DEBUG)


def _call(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, Any]:
    try:
        addresses = check_url(url)
    except ValidationError:
        raise Refused("provider address not allowed") from None
    try:
        answer = outbound.send(
            method,
            url,
            addresses=addresses,
            headers={"Accept": "application/json", **(headers or {})},
            body=body,
            timeout=settings.SSO_TIMEOUT_SECONDS,
        )
    except outbound.RequestFailed as error:
        raise Refused(f"provider unreachable ({error})") from None
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = None
    return answer.status, data


def _get_json(url: str, what: str) -> dict[str, Any]:
    status, data = _call("GET", url)
    if status != 200 or not isinstance(data, dict):
        raise Refused(f"provider's {what} unusable (HTTP {status})")
    return data


def _cache_key(kind: str, issuer: str) -> str:
    return f"oidc:{kind}:{hashlib.sha256(issuer.encode()).hexdigest()}"


def discover(issuer: str, *, fresh: bool = False) -> Metadata:
    """The provider's endpoints, from its discovery document (kept SSO_METADATA_SECONDS).

    The document must name the same issuer (OpenID Connect Discovery, section 4.3).
    """
    key = _cache_key("metadata", issuer)
    failed_key = _cache_key("metadata-failed", issuer)
    document = None if fresh else cache.get(key)
    if document is None:
        failure = None if fresh else cache.get(failed_key)
        if failure:
            # A provider that just failed is not asked again on every sign-in attempt.
            raise Refused(failure)
        try:
            document = _discovery_document(issuer)
        except Refused as error:
            cache.set(failed_key, str(error), DISCOVERY_RETRY_SECONDS)
            raise
        cache.set(key, document, settings.SSO_METADATA_SECONDS)
    methods = document.get("token_endpoint_auth_methods_supported")
    if not isinstance(methods, list) or not methods:
        methods = ["client_secret_basic"]
    return Metadata(
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=str(document.get("userinfo_endpoint") or ""),
        end_session_endpoint=str(document.get("end_session_endpoint") or ""),
        token_auth_methods=tuple(str(method) for method in methods),
    )


# How long a provider whose discovery failed is left alone.
DISCOVERY_RETRY_SECONDS = 30


def _discovery_document(issuer: str) -> dict[str, Any]:
    document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
    if document.get("issuer") != issuer:
        raise Refused("discovery names another issuer")
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(endpoint), str):
            raise Refused(f"discovery lacks {endpoint}")
    for endpoint in ("authorization_endpoint", "end_session_endpoint"):
        if document.get(endpoint) is not None and not _browser_url(document[endpoint]):
            raise Refused(f"discovery's {endpoint} is not https")
    for endpoint in ("userinfo_endpoint",):
        if not isinstance(document.get(endpoint), str | None):
            raise Refused(f"discovery's {endpoint} is not a URL")
    return document


def _key_set(issuer: str, metadata: Metadata, *, fresh: bool) -> KeySet:
    key = _cache_key("jwks", issuer)
    document = None if fresh else cache.get(key)
    if document is None:
        document = _get_json(metadata.jwks_uri, "key set")
        cache.set(key, document, settings.SSO_METADATA_SECONDS)
    try:
        return KeySet.import_key_set(cast(Any, document))
    except (jose_errors.JoseError, ValueError, TypeError, KeyError):
        raise Refused("provider's key set unusable") from None


def new_secrets() -> dict[str, str]:
    """A sign-in attempt's state, nonce and PKCE code verifier."""
    return {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "code_verifier": secrets.token_urlsafe(64),
    }


def authorization_url(
    provider: Any,
    metadata: Metadata,
    *,
    redirect_uri: str,
    attempt: dict[str, str],
    login_hint: str = "",
    fresh_sign_in: bool = False,
) -> str:
    """Where the browser goes to sign in: the authorization code flow with PKCE (S256).

    `fresh_sign_in` asks the provider to sign the person in again, whatever session it
    has (`prompt=login`, `max_age=0`), to prove it is still them before issuing.
    """
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": provider.scopes,
        "state": attempt["state"],
        "nonce": attempt["nonce"],
        "code_challenge": create_s256_code_challenge(attempt["code_verifier"]),
        "code_challenge_method": "S256",
    }
    if login_hint:
        query["login_hint"] = login_hint
    if fresh_sign_in:
        query.update(prompt="login", max_age="0")
    return _with_query(metadata.authorization_endpoint, query)


@sensitive_variables("secret", "pair", "form", "headers", "code", "code_verifier")
def exchange_code(
    provider: Any, metadata: Metadata, *, code: str, code_verifier: str, redirect_uri: str
) -> dict[str, Any]:
    """The token endpoint's answer for this code (client_secret_basic, or _post when that
    is all the provider takes)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        secret = provider.client_secret()
    except sealing.CannotOpen:
        raise Refused("client secret sealed under another key: enter it again") from None
    if "client_secret_basic" in metadata.token_auth_methods:
        pair = f"{quote(provider.client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=provider.client_id, client_secret=secret)
    status, data = _call(
        "POST", metadata.token_endpoint, headers=headers, body=urlencode(form).encode()
    )
    if status != 200 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        raise Refused(f"code exchange refused ({str(error or f'HTTP {status}')[:60]})")
    if not isinstance(data.get("id_token"), str):
        raise Refused("no ID token in the token response")
    return data


def _decode(id_token: str, provider: Any, metadata: Metadata) -> dict[str, Any]:
    for fresh in (False, True):
        keys = _key_set(provider.issuer, metadata, fresh=fresh)
        try:
            return jwt.decode(id_token, keys, algorithms=ALGORITHMS).claims
        except jose_errors.InvalidKeyIdError:
            # The provider may have rotated its keys: fetch them again, once.
            continue
        except (jose_errors.UnsupportedAlgorithmError, jose_errors.MissingAlgorithmError):
            raise Refused("signature algorithm not allowed") from None
        except jose_errors.BadSignatureError:
            raise Refused("bad signature") from None
        except (jose_errors.JoseError, ValueError, TypeError):
            raise Refused("malformed ID token") from None
    raise Refused("unknown signing key")


CLAIM_REASONS = {
    "iss": "wrong issuer",
    "aud": "wrong audience",
    "nonce": "nonce mismatch",
    "exp": "expired token",
    "iat": "issued in the future",
    "nbf": "not yet valid",
    "sub": "no subject",
}


def verify_id_token(
    id_token: str, provider: Any, metadata: Metadata, *, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once its signature (the provider's keys, an allowed
    algorithm), `iss`, `aud`, `azp`, `exp`, `iat` (with SSO_CLOCK_SKEW_SECONDS) and `nonce`
    are right. Raises Refused with the reason."""
    claims = _decode(id_token, provider, metadata)
    registry = jwt.JWTClaimsRegistry(
        leeway=settings.SSO_CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except jose_errors.ExpiredTokenError:
        raise Refused("expired token") from None
    except jose_errors.ClaimError as error:
        raise Refused(CLAIM_REASONS.get(error.claim, f"bad claim {error.claim}"[:60])) from None
    # joserfc accepts a list holding the expected value: the nonce must be that one string.
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise Refused("nonce mismatch")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != provider.client_id:
        raise Refused("wrong authorized party (azp)")
    if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
        raise Refused("no subject")
    return claims


def userinfo(metadata: Metadata, *, access_token: str, subject: str) -> dict[str, Any]:
    """The userinfo endpoint's claims about the same person (empty when the provider has
    none, or answers for someone else)."""
    if not metadata.userinfo_endpoint or not access_token:
        return {}
    status, data = _call(
        "GET", metadata.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
    )
    if status != 200 or not isinstance(data, dict) or data.get("sub") != subject:
        return {}
    return data


def shows_second_factor(claims: dict[str, Any]) -> bool:
    amr = claims.get("amr")
    return isinstance(amr, list) and bool(SECOND_FACTOR_AMR.intersection(map(str, amr)))


# Providers whose sign-out page refuses a request without the ID token (`id_token_hint`),
# by the host of that page. The portal keeps no ID token (it would be one more bearer
# secret in the session store), so it offers no link that would only end in an error.
NEEDS_ID_TOKEN_HINT = (".okta.com", ".oktapreview.com", ".okta-emea.com")


def end_session_url(metadata: Metadata, *, client_id: str, post_logout_redirect_uri: str) -> str:
    """RP-initiated logout at the provider, when it offers it ('' otherwise): the client
    id and where to come back to (OpenID Connect RP-Initiated Logout 1.0 allows these
    without the ID token); the provider asks the person to confirm."""
    host = urlsplit(metadata.end_session_endpoint).hostname or ""
    if not host or host.endswith(NEEDS_ID_TOKEN_HINT):
        return ""
    return _with_query(
        metadata.end_session_endpoint,
        {"client_id": client_id, "post_logout_redirect_uri": post_logout_redirect_uri},
    )


def _with_query(endpoint: str, query: dict[str, str]) -> str:
    """`endpoint` with `query` added (after any query it has already)."""
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(query)}"
