"""Setting up a tenant's identity provider: the checks (the issuer's discovery, the
domains it routes) and the one service the admin and `tenant_sso` save through."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts import oidc
from accounts.models import SignInDomain
from audit.models import AuditEvent
from audit.records import RequestMeta, record

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# What a provider's record shows of it (never the client secret).
# Its settings besides where it is (issuer, client id).
SETTINGS = (
    "extra_scopes",
    "groups_claim",
    "allow_passwords",
    "trust_provider_mfa",
    "create_people",
    "enabled",
)
SHOWN = ("issuer", "client_id", *SETTINGS)


def check_issuer(issuer: str) -> None:
    """The issuer must be reachable as the rules allow and publish a discovery document
    that names it (raises ValidationError with what to fix)."""
    oidc.check_url(issuer)
    try:
        oidc.discover(issuer, fresh=True)
    except oidc.Refused as error:
        raise ValidationError(
            f"Could not use {issuer.rstrip('/')}/.well-known/openid-configuration: {error}."
        ) from None


def parse_domains(values: Any, *, provider: Any = None) -> list[str]:
    """E-mail domains (one per line, or a list), each well formed and no other tenant's."""
    if isinstance(values, str):
        values = values.replace(",", "\n").splitlines()
    domains = list(dict.fromkeys(v.strip().lower().lstrip("@") for v in values if v.strip()))
    wrong = [domain for domain in domains if not _DOMAIN.match(domain)]
    if wrong:
        raise ValidationError(f"Not an e-mail domain: {', '.join(wrong)}.")
    taken = SignInDomain.objects.unscoped("a domain belongs to one tenant").filter(
        domain__in=domains
    )
    if provider is not None and provider.pk:
        taken = taken.exclude(provider=provider)
    if taken.exists():
        # Which tenant has it is not for another tenant's admin to learn.
        names = ", ".join(sorted(taken.values_list("domain", flat=True)))
        raise ValidationError(f"Not available: {names}. Ask an operator if it is yours.")
    return domains


@sensitive_variables("client_secret")
def save_provider(
    *,
    provider: Any,
    client_secret: str,
    domains: list[str],
    actor: Any,
    meta: RequestMeta,
    changed: list[str] | None = None,
) -> Any:
    """Save the provider (a new client secret sealed when one is given), replace its
    domains, and record what changed. New domains route sign-ins once an operator approves
    them; an operator's own (and the command line's) are approved at once."""
    adding = provider.pk is None
    if client_secret:
        provider.set_client_secret(client_secret)
    if not provider.sealed_client_secret:
        raise ValidationError("A client secret is needed.")
    provider.full_clean()
    with transaction.atomic():
        provider.save()
        before = set(provider.domains.values_list("domain", flat=True))
        provider.domains.exclude(domain__in=domains).delete()
        approved = actor is None or actor.is_superuser
        SignInDomain.objects.bulk_create(
            SignInDomain(provider=provider, domain=domain, approved=approved)
            for domain in domains
            if domain not in before
        )
        what = [name for name in (changed if changed is not None else SHOWN) if name in SHOWN]
        if client_secret and not adding:
            what.append("client secret")
        if set(domains) != before and not adding:
            what.append("domains")
        detail = ", ".join(
            f"{n}={getattr(provider, n)}" if n in SHOWN else f"{n} changed" for n in what
        )
        record(
            AuditEvent.Action.PROVIDER_ADDED if adding else AuditEvent.Action.PROVIDER_CHANGED,
            actor=actor,
            tenant=provider.tenant,
            meta=meta,
            detail=f"{provider.issuer}: {detail or 'saved'}; domains {', '.join(domains)}"[:500],
        )
    return provider


def remove_provider(*, provider: Any, actor: Any, meta: RequestMeta) -> None:
    with transaction.atomic():
        record(
            AuditEvent.Action.PROVIDER_REMOVED,
            actor=actor,
            tenant=provider.tenant,
            meta=meta,
            detail=f"{provider.issuer} (client {provider.client_id})"[:500],
        )
        provider.delete()


def approve_domains(*, domains: Any, actor: Any, meta: RequestMeta) -> int:
    """An operator approves domains tenant admins named: sign-ins are routed by them."""
    approved = 0
    for domain in domains.filter(approved=False).select_related("provider__tenant"):
        with transaction.atomic():
            SignInDomain.rows.filter(pk=domain.pk).update(approved=True)
            record(
                AuditEvent.Action.PROVIDER_CHANGED,
                actor=actor,
                tenant=domain.provider.tenant,
                meta=meta,
                detail=f"domain {domain.domain} approved by an operator",
            )
        approved += 1
    return approved
