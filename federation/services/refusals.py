"""Refusing an issuance before AWS is asked, each refusal a `<kind>.denied` record: a
choice the portal cannot read, a form sent twice, the rate limits, a grant the person
cannot use. What an issuance hands out (IssueKind) names those records."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from django.conf import settings

from accounts.models import Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person
from core import ratelimit
from core.errors import InvalidChoice, RateLimited
from federation.forms import IssueForm
from federation.models import RoleMapping
from federation.services.errors import AlreadyShown


class IssueKind(StrEnum):
    """What an issuance hands out; its value starts the names of its audit records
    (`console.issued`, `cli.denied`...)."""

    CONSOLE = "console"
    CLI = "cli"

    def action(self, outcome: str) -> AuditEvent.Action:
        """The audit action of this kind's `outcome` ("requested", "issued", "failed",
        "denied"): console.issued, cli.denied..."""
        return AuditEvent.Action(f"{self.value}.{outcome}")


def record_refusal(
    *, kind: IssueKind, user: User, grant_id: int, meta: RequestMeta, **fields: Any
) -> None:
    """A `<kind>.denied` record: in the grant's tenant if it is one of the person's,
    otherwise in each of the person's tenants (their admins see someone trying ids that are
    not theirs), never naming another tenant's grant."""
    known = RoleMapping.objects.for_user(user).filter(pk=grant_id).first()
    record_for_person(
        kind.action("denied"),
        actor=user,
        meta=meta,
        tenants=[known.tenant] if known else None,
        mapping_id=grant_id,
        role_arn=known.role_arn if known else "",
        **fields,
    )


def refuse_choice(
    *,
    kind: IssueKind,
    user: User,
    grant_id: int,
    meta: RequestMeta,
    problem: str,
    fields: Sequence[str] = (),
    counted: bool = False,
) -> NoReturn:
    """Refuse a choice (a tampered duration, region or destination; `fields` names them):
    counted against the person's rate limit like any issuance (unless the caller already
    `counted` it), so refusals cannot flood the trail, then recorded in the tenant of the
    grant it was made for and raised as InvalidChoice."""
    if not counted:
        within_limits(kind=kind, user=user, grant_id=grant_id, meta=meta)
    record_refusal(
        kind=kind,
        user=user,
        grant_id=grant_id,
        meta=meta,
        error_code="InvalidChoice",
        detail=f"refused choice{' of ' + ', '.join(fields) if fields else ''}: {problem}",
    )
    raise InvalidChoice(problem)


@dataclass(frozen=True)
class Choices:
    """What a person chose for a session: its length, and for the console its region and
    page (None: the grant's own)."""

    seconds: int | None = None
    region: str | None = None
    path: str | None = None


def read_choices(
    *, kind: IssueKind, user: User, grant_id: int, data: Mapping[str, Any], meta: RequestMeta
) -> Choices:
    """The choices a page or the API sent, as IssueForm parses them. Anything it cannot read
    is refused here, for every caller alike (recorded and counted: refuse_choice)."""
    form = IssueForm(data)
    if not form.is_valid():
        refuse_choice(
            kind=kind,
            user=user,
            grant_id=grant_id,
            meta=meta,
            problem="The session length, region or destination is not valid (a session "
            "lasts 900 to 43200 seconds).",
            fields=sorted(form.errors),
        )
    chosen = form.cleaned_data
    return Choices(seconds=chosen["duration"], region=chosen["region"], path=chosen["destination"])


def refuse_repeat(*, kind: IssueKind, user: User, grant_id: int, meta: RequestMeta) -> NoReturn:
    """Refuse an issuance asked for again (the same form sent twice): counted against the
    person's rate limit like any issuance, recorded, and raised as AlreadyShown. AWS is
    not asked."""
    within_limits(kind=kind, user=user, grant_id=grant_id, meta=meta)
    record_refusal(
        kind=kind,
        user=user,
        grant_id=grant_id,
        meta=meta,
        error_code="AlreadyShown",
        detail="the same form was sent again (a reload, back, or a second click): "
        "a session is shown once",
    )
    raise AlreadyShown


def within_limits(
    *, kind: IssueKind, user: User, grant_id: int, meta: RequestMeta, tenant: Tenant | None = None
) -> None:
    """Per person first (before any lookup), then per tenant. The first refusal in a window
    is recorded; the rest of a burst is not, so it cannot flood the trail."""
    window = settings.ISSUE_LIMIT_WINDOW_SECONDS
    if tenant is None:
        key, limit, who = f"user:{user.pk}", settings.ISSUE_LIMIT_PER_USER, "you"
    else:
        key, limit, who = f"tenant:{tenant.pk}", settings.ISSUE_LIMIT_PER_TENANT, "your tenant"
    allowed, count, retry_after = ratelimit.hit(f"issue:{key}", limit=limit, window=window)
    if allowed:
        return
    if count == limit + 1:
        record_for_person(
            kind.action("denied"),
            actor=user,
            tenants=[tenant] if tenant else None,
            meta=meta,
            mapping_id=grant_id,
            error_code="RateLimited",
            detail=f"more than {limit} sessions in {window} s for {key.split(':')[0]}",
        )
    raise RateLimited(
        f"Too many sessions asked for by {who} just now. Try again in {retry_after} seconds.",
        retry_after,
    )
