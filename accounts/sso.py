"""Signing in through a tenant's identity provider: which provider an address signs in at,
the attempt kept in the browser's session and the callback's checks. Who the person is in
the portal, and their teams, come from accounts.provisioning.

Every failure is a `login.sso_failed` record naming the reason and counts like a failed
password for the lockout, except two that are no guess at anything: a refusal by the rate
limit, and a callback whose state this browser never started (any web page can make a
browser send one). The person sees one neutral page whatever the reason, so the page tells
nobody which domains or people a tenant has.
"""

import time
from dataclasses import dataclass
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.http import HttpRequest

from accounts import oidc
from accounts.models import (
    ExternalIdentity,
    IdentityProvider,
    SignInDomain,
)
from accounts.provisioning import approved_domains, groups_in, groups_left_out, link, sync_teams
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import ratelimit
from core.net import client_ip

# The attempts this browser has under way (state → attempt), and the states already used.
PENDING = "portcullis_sso_pending"


SPENT = "portcullis_sso_spent"


MAX_PENDING = 5


# An attempt left at the provider for longer than this is refused when it comes back.
ATTEMPT_SECONDS = 600


# The provider this session signed in through (for signing out there too).
SIGNED_IN_WITH = "portcullis_sso_provider"


# How a session that came through a provider is authenticated (accounts.backends).
BACKEND = "accounts.backends.ProviderBackend"


class SignInFailed(Exception):
    """A sign-in through a provider did not happen; `reason` goes to the audit record.
    `counts`: it counts toward the lockout like a wrong password. `unsolicited`: a callback
    this browser never asked for, recorded at most UNSOLICITED_RECORDS_PER_MINUTE times a
    minute from one address."""

    def __init__(
        self,
        reason: str,
        *,
        tenant: Any = None,
        who: str = "",
        counts: bool = True,
        unsolicited: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tenant = tenant
        self.who = who
        self.counts = counts and not unsolicited
        self.unsolicited = unsolicited


class SignInLocked(Exception):
    """The person (or this address) is locked out after failed sign-ins."""

    def __init__(self, who: str) -> None:
        super().__init__(who)
        self.who = who


@dataclass(frozen=True)
class SignedIn:
    user: Any
    provider: Any
    next_url: str
    provider_factor: bool
    fresh_sign_in: bool
    authenticated_at: float
    # The provider sent no groups claim (Entra ID's overage, say): teams left as they were.
    groups_missing: bool = False


def provider_for(address: str) -> Any:
    """The enabled provider a work e-mail address (by its domain) or a tenant's slug signs
    in at, or None."""
    address = address.strip().lower()[:254]
    if not address:
        return None
    if "@" in address:
        found = (
            SignInDomain.objects.unscoped("a sign-in is routed by its e-mail domain")
            .filter(domain=address.rsplit("@", 1)[1], approved=True)
            .values_list("provider_id", flat=True)
            .first()
        )
        providers = IdentityProvider.objects.unscoped("the domain named it").filter(
            pk__in=[] if found is None else [found]
        )
    else:
        providers = IdentityProvider.objects.unscoped("a sign-in names its tenant").filter(
            tenant__slug=address
        )
    return providers.filter(enabled=True, tenant__active=True).select_related("tenant").first()


def provider_of(user: Any) -> Any:
    """The enabled provider the person is linked through, or None."""
    identity = user.identities.live().select_related("tenant__identity_provider").first()
    return identity.tenant.identity_provider if identity else None


RATE_LIMITED = "rate limited (too many sign-ins from this address)"


def _limit(request: HttpRequest, step: str, who: str) -> None:
    """SSO_ATTEMPTS_PER_MINUTE for each step of a sign-in (starting one, coming back from
    the provider), so one sign-in costs one of each: an office behind one address signs
    that many people in a minute. A refusal is recorded but counts toward no lockout, or a
    busy office would lock itself (passwords included) out."""
    allowed, _, _ = ratelimit.hit(
        f"sso:{step}:{client_ip(request)}", limit=settings.SSO_ATTEMPTS_PER_MINUTE, window=60
    )
    if not allowed:
        raise SignInFailed(RATE_LIMITED, who=who, counts=False)


def is_locked(request: HttpRequest, who: str) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": who})


def begin(
    request: HttpRequest, *, address: str, next_url: str, redirect_uri: str, again: Any = None
) -> str:
    """Start a sign-in at the provider of `address` (or, with `again`, that signed-in
    person's own provider, asked to sign them in afresh); returns where to send the browser.
    Raises SignInFailed, or SignInLocked."""
    who = again.get_username() if again else address.strip()[:150]
    if who and is_locked(request, who):
        raise SignInLocked(who)
    _limit(request, "start", who)
    provider = provider_of(again) if again is not None else provider_for(address)
    if provider is None:
        raise SignInFailed("unknown domain or tenant", who=who)
    try:
        metadata = oidc.discover(provider.issuer)
    except oidc.Refused as error:
        raise SignInFailed(str(error), tenant=provider.tenant, who=who) from None
    attempt = oidc.new_secrets()
    pending = {
        state: kept
        for state, kept in request.session.get(PENDING, {}).items()
        if time.time() - kept["at"] < ATTEMPT_SECONDS
    }
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[attempt["state"]] = {
        "provider": provider.pk,
        "nonce": attempt["nonce"],
        "code_verifier": attempt["code_verifier"],
        "next": next_url,
        "who": who,
        "at": time.time(),
        "again": again.pk if again else None,
    }
    request.session[PENDING] = pending
    return oidc.authorization_url(
        provider,
        metadata,
        redirect_uri=redirect_uri,
        attempt=attempt,
        login_hint=address.strip() if "@" in address else "",
        fresh_sign_in=again is not None,
    )


# A callback whose state this browser never started needs no session, so any web page (an
# <img> tag) can make a browser send it: it is recorded this many times a minute per address
# and counts toward no lockout and no sign-in budget, or one page could lock an office out.
UNSOLICITED_RECORDS_PER_MINUTE = 5


def _take_attempt(request: HttpRequest, state: str) -> dict[str, Any]:
    pending = request.session.get(PENDING, {})
    spent = request.session.get(SPENT, [])
    attempt = pending.pop(state, None) if state else None
    if attempt is None:
        reason = "replayed callback" if state in spent else "state mismatch"
        raise SignInFailed(reason, unsolicited=True)
    request.session[PENDING] = pending
    request.session[SPENT] = [*spent, state][-MAX_PENDING:]
    return attempt


def complete(request: HttpRequest, *, params: Any, redirect_uri: str) -> SignedIn:
    """The provider sent the browser back: check everything, link or create the person and
    bring their teams up to date. Raises SignInFailed, or SignInLocked."""
    attempt = _take_attempt(request, str(params.get("state") or "")[:100])
    who = attempt["who"]
    _limit(request, "callback", who)
    if who and is_locked(request, who):
        raise SignInLocked(who)
    provider = (
        IdentityProvider.objects.unscoped("the attempt names its provider")
        .filter(pk=attempt["provider"], enabled=True, tenant__active=True)
        .select_related("tenant")
        .first()
    )
    if provider is None:
        raise SignInFailed("provider switched off", who=who)
    fail = _failing(provider, who)
    if params.get("error"):
        raise fail(f"provider refused ({str(params['error'])[:60]})")
    if time.time() - attempt["at"] > ATTEMPT_SECONDS:
        raise fail("sign-in took too long")
    code = str(params.get("code") or "")
    if not code or len(code) > 2048:
        raise fail("no authorization code")
    try:
        metadata = oidc.discover(provider.issuer)
        tokens = oidc.exchange_code(
            provider,
            metadata,
            code=code,
            code_verifier=attempt["code_verifier"],
            redirect_uri=redirect_uri,
        )
        claims = oidc.verify_id_token(
            tokens["id_token"], provider, metadata, nonce=attempt["nonce"]
        )
        _check_hosted_domain(provider, claims, fail=fail)
        claims = {**_more_from_userinfo(provider, metadata, tokens, claims), **claims}
    except oidc.Refused as error:
        raise fail(str(error)) from None
    identity = (
        ExternalIdentity.objects.unscoped("a verified token names its tenant's subject")
        .filter(tenant=provider.tenant, issuer=provider.issuer, subject=claims["sub"])
        .select_related("user")
        .first()
    )
    again = attempt["again"]
    if again is not None:
        _check_signed_in_again(claims, attempt, identity, fail=fail)
    user = link(provider, claims, identity, fail=fail)
    groups_missing = bool(provider.groups_claim) and groups_left_out(claims, provider.groups_claim)
    if provider.groups_claim and not groups_missing:
        groups = groups_in(claims.get(provider.groups_claim))
        sync_teams(provider, user, groups, meta=RequestMeta.from_request(request))
    return SignedIn(
        user=user,
        provider=provider,
        next_url=attempt["next"],
        provider_factor=_provider_factor_counts(provider, user, claims),
        fresh_sign_in=again is not None,
        authenticated_at=_auth_time(claims),
        groups_missing=groups_missing,
    )


# What the userinfo endpoint may add to the ID token: who the person is and their groups,
# never how or when they signed in (amr, auth_time), which only the signed token says.
USERINFO_CLAIMS = ("email", "email_verified", "given_name", "family_name", "preferred_username")


def _more_from_userinfo(provider: Any, metadata: Any, tokens: Any, claims: Any) -> dict[str, Any]:
    groups = [provider.groups_claim] if provider.groups_claim else []
    if all(name in claims for name in ["email", *groups]):
        return {}
    wanted = [*USERINFO_CLAIMS, *groups]
    extra = oidc.userinfo(
        metadata, access_token=str(tokens.get("access_token") or ""), subject=claims["sub"]
    )
    return {name: extra[name] for name in wanted if name in extra}


def _auth_time(claims: dict[str, Any]) -> float:
    """When the provider last really signed the person in (0 when it does not say): a
    sign-in carried by the provider's own session proves nothing new."""
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, int | float) and not isinstance(auth_time, bool):
        return min(float(auth_time), time.time())
    return 0.0


def _check_hosted_domain(provider: Any, claims: dict[str, Any], *, fail: Any) -> None:
    """A provider that signs in anyone's personal account as well as companies' (Google)
    says in the ID token's `hd` which company's account it is; a personal account
    registered with a company address has none. Only the tenant's own (approved) domains
    sign in there."""
    if provider.issuer not in settings.SSO_HOSTED_DOMAIN_ISSUERS:
        return
    hosted = claims.get("hd")
    if not isinstance(hosted, str) or hosted.lower() not in approved_domains(provider):
        raise fail("not an account of the tenant's approved domains (hd)")


def _check_signed_in_again(claims: Any, attempt: Any, identity: Any, *, fail: Any) -> None:
    if _auth_time(claims) < attempt["at"] - settings.SSO_CLOCK_SKEW_SECONDS:
        raise fail("the provider did not sign the person in again")
    if identity is None or identity.user_id != attempt["again"]:
        raise fail("signed in again as someone else")


def _provider_factor_counts(provider: Any, user: Any, claims: Any) -> bool:
    """The provider's second factor stands in for the portal's own only where the tenant
    trusts it, the token shows one, and the person belongs to no other tenant (whose own
    rules it would otherwise satisfy) and is no operator."""
    return bool(
        provider.trust_provider_mfa
        and oidc.shows_second_factor(claims)
        and not user.is_superuser
        and not user.memberships.exclude(tenant=provider.tenant).exists()
    )


def _failing(provider: Any, who: str) -> Any:
    def fail(reason: str) -> SignInFailed:
        return SignInFailed(reason, tenant=provider.tenant, who=who)

    return fail


def record_failure(request: HttpRequest, failure: SignInFailed) -> None:
    """The audit record of a failed sign-in, counted by the lockout as a failed password
    (when it counts). An unsolicited callback past its per-address allowance leaves no
    record: it would only flood the trail."""
    if failure.unsolicited:
        recorded, _, _ = ratelimit.hit(
            f"sso:unsolicited:{client_ip(request)}",
            limit=UNSOLICITED_RECORDS_PER_MINUTE,
            window=60,
        )
        if not recorded:
            return
    record(
        AuditEvent.Action.LOGIN_SSO_FAILED,
        actor_username=failure.who,
        tenant=failure.tenant,
        meta=RequestMeta.from_request(request),
        detail=failure.reason[:500],
    )
    if failure.counts:
        AxesProxyHandler.user_login_failed(
            sender=__name__, credentials={"username": failure.who}, request=request
        )


def record_success(request: HttpRequest, signed: SignedIn) -> None:
    factor = "the provider's second factor counted" if signed.provider_factor else ""
    how = "signed in again" if signed.fresh_sign_in else "signed in"
    groups = (
        f"no {signed.provider.groups_claim} claim: provider-managed teams left as they were"
        if signed.groups_missing
        else ""
    )
    detail = "; ".join(filter(None, [f"{how} through {signed.provider.issuer}", factor, groups]))
    record(
        AuditEvent.Action.LOGIN_SSO,
        actor=signed.user,
        tenant=signed.provider.tenant,
        meta=RequestMeta.from_request(request),
        detail=detail[:500],
    )


def sign_out_url(provider_id: int, *, come_back_to: str) -> str:
    """Where to sign out at the provider too ('' when it offers no such page)."""
    provider = (
        IdentityProvider.objects.unscoped("the signed-out session named it")
        .filter(pk=provider_id, enabled=True)
        .first()
    )
    if provider is None:
        return ""
    try:
        metadata = oidc.discover(provider.issuer)
    except oidc.Refused:
        return ""
    return oidc.end_session_url(
        metadata, client_id=provider.client_id, post_logout_redirect_uri=come_back_to
    )
