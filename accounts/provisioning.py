"""People and teams from what a company's identity provider says: linking the provider's
subject to a person (never by an unverified e-mail address), creating people at their first
sign-in in the tenant's approved domains, and the teams that follow the provider's groups."""

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    ExternalIdentity,
    Membership,
    Team,
    User,
)
from audit.models import AuditEvent
from audit.records import RequestMeta, record


def approved_domains(provider: Any) -> set[str]:
    """The e-mail domains an operator approved for this provider: the only ones that route
    sign-ins to it or get accounts made at a first sign-in."""
    return set(provider.domains.filter(approved=True).values_list("domain", flat=True))


def groups_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


_USERNAME_FORBIDDEN = re.compile(r"[^\w.@+-]")


def new_username(claims: dict[str, Any], provider: Any) -> str:
    """The e-mail address (or the provider's subject) as a username, with -2, -3... when
    someone already has it: a local account with the same address is never taken over."""
    base = str(claims.get("email") or claims["sub"])
    base = _USERNAME_FORBIDDEN.sub("-", base)[:140] or provider.tenant.slug
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        local, at, domain = base.partition("@")
        candidate = f"{local}-{n}{at}{domain}"[:150]
    return candidate


def profile_of(claims: dict[str, Any]) -> dict[str, str]:
    email = claims.get("email") if claims.get("email_verified", True) is not False else None
    return {
        field: str(value)[:limit]
        for field, value, limit in [
            ("email", email, 254),
            ("first_name", claims.get("given_name"), 150),
            ("last_name", claims.get("family_name"), 150),
        ]
        if isinstance(value, str) and value
    }


def link(provider: Any, claims: dict[str, Any], identity: Any, *, fail: Any) -> Any:
    """The person `identity` (the provider's `sub` in this tenant) links to; a new person
    (and their membership) when there is none and the tenant allows it."""
    tenant = provider.tenant
    profile = profile_of(claims)
    if identity is not None:
        user = identity.user
        if not user.is_active:
            raise fail("account switched off")
        if not user.memberships.filter(tenant=tenant).exists():
            raise fail("no longer a member of the tenant")
        changed = {k: v for k, v in profile.items() if getattr(user, k) != v}
        if changed:
            User.objects.filter(pk=user.pk).update(**changed)
        ExternalIdentity.rows.filter(pk=identity.pk).update(last_sign_in_at=timezone.now())
        return user
    if not provider.create_people:
        raise fail("no account linked to this person, and creating people is off")
    email = str(profile.get("email") or "")
    if email.rpartition("@")[2].lower() not in approved_domains(provider):
        # A shared provider (Google, a multi-company Okta) signs in more than this
        # company's people: only its own domains get accounts, and a domain is the
        # tenant's own once an operator has approved it (a tenant admin's claim is not).
        raise fail("e-mail missing, unverified or outside the tenant's approved domains")
    try:
        with transaction.atomic():
            user = User(username=new_username(claims, provider), **profile)
            user.set_unusable_password()
            user.save()
            # Recorded as membership.added, like any new member (federation's signals).
            Membership.objects.create(user=user, tenant=tenant)
            ExternalIdentity.objects.create(
                tenant=tenant,
                user=user,
                issuer=provider.issuer,
                subject=claims["sub"],
                last_sign_in_at=timezone.now(),
            )
    except IntegrityError:
        # The same person's first sign-in in two tabs at once: the other one made them.
        raise fail("first sign-in already under way") from None
    return user


def sync_teams(provider: Any, user: Any, groups: set[str], *, meta: RequestMeta) -> list[str]:
    """Bring the person's place in the tenant's provider-managed teams in line with their
    groups: join those whose group they are in, leave the others. Each change is a
    `team.synced` record; returns the changes."""
    changes = []
    teams = Team.objects.unscoped("the provider's groups name its tenant's teams").filter(
        tenant=provider.tenant
    )
    current = set(user.teams.filter(tenant=provider.tenant).values_list("pk", flat=True))
    for team in teams.exclude(provider_group=""):
        belongs = team.provider_group in groups
        if belongs == (team.pk in current):
            continue
        # Through the link table itself: this change has its own record, team.synced, not
        # the team.changed an admin's edit makes.
        links = Team.members.through.objects
        with transaction.atomic():
            if belongs:
                # Two sign-ins at once both find the person missing: one adds them.
                links.bulk_create([links.model(team=team, user=user)], ignore_conflicts=True)
                change = f"{user.get_username()} joined {team.name} (group {team.provider_group})"
            else:
                links.filter(team=team, user=user).delete()
                change = (
                    f"{user.get_username()} left {team.name} (not in group {team.provider_group})"
                )
            record(
                AuditEvent.Action.TEAM_SYNCED,
                actor=user,
                tenant=provider.tenant,
                meta=meta,
                detail=change[:500],
            )
        changes.append(change)
    return changes


def groups_left_out(claims: dict[str, Any], name: str) -> bool:
    """Whether the token says its groups were left out rather than that there are none.

    Entra ID leaves the groups claim out of the token of someone in more than 200 groups
    (overage) and says so: `_claim_names` names the claim, or `hasgroups` is true. The
    person's provider-managed teams then stay as they were. A token that simply carries
    no groups claim means no groups: the person leaves every managed team, since keeping
    access nobody can vouch for is the worse mistake.
    """
    if claims.get(name) is not None:
        return False
    named = claims.get("_claim_names")
    return (isinstance(named, dict) and name in named) or claims.get("hasgroups") is True
