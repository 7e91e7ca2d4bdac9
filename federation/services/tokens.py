"""Personal API tokens: made for a number of days, revoked with a record."""

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person
from core.errors import InvalidChoice
from federation.models import ApiToken


def create_token(
    *, user: User, name: str, days: int, meta: RequestMeta | None = None
) -> tuple[ApiToken, str]:
    """A new personal API token that works for `days` (1 to API_TOKEN_MAX_DAYS); returns
    (token, plain text shown to its owner once)."""
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise InvalidChoice(f"A token works for 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    with transaction.atomic():
        token, plain = ApiToken.issue(user=user, name=name, days=days)
        record_for_person(
            AuditEvent.Action.TOKEN_CREATED,
            actor=user,
            meta=meta,
            detail=f"API token {token.key_id} ({name}) of {user.get_username()}, "
            f"until {token.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    return token, plain


def revoke_token(
    *, actor: User | None, token: ApiToken, meta: RequestMeta | None = None, reason: str = ""
) -> None:
    """Revoke a token now (its owner, or an admin of the tenants the owner belongs to)."""
    revoke_tokens(actor=actor, tokens=[token], meta=meta, reason=reason)


def revoke_tokens(
    *,
    actor: User | None,
    tokens: Iterable[ApiToken],
    meta: RequestMeta | None = None,
    reason: str = "",
    tenants: Iterable[Tenant | None] | None = None,
    actor_username: str = "",
) -> None:
    """Revoke live tokens, each with its record in the owner's tenants (or `tenants`)."""
    with transaction.atomic():
        for token in tokens:
            ApiToken.objects.unscoped("the token its caller holds").filter(pk=token.pk).update(
                revoked_at=timezone.now()
            )
            owner = token.user
            record_for_person(
                AuditEvent.Action.TOKEN_REVOKED,
                actor=actor,
                actor_username=actor_username,
                person=owner,
                tenants=tenants,
                meta=meta,
                detail=f"API token {token.key_id} ({token.name}) of {owner.get_username()}"
                + (f": {reason}" if reason else ""),
            )
