"""Issuing a console sign-in URL or CLI credentials for a grant, inside its limits."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import MIN_SESSION_SECONDS, User
from audit.records import RequestMeta, record
from core import humanize
from core.errors import InvalidChoice
from federation import aws
from federation.models import CONSOLE_SERVICES, RoleMapping
from federation.services.activation import Window, open_window
from federation.services.errors import AccessWindowRequired, GrantNotFound
from federation.services.refusals import IssueKind, record_refusal, refuse_choice, within_limits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedSession:
    """What an issuance hands back. `console_url` and `credentials` are secrets."""

    mapping: RoleMapping
    seconds: int
    expires_at: datetime
    assumed_role_arn: str
    capped_by_chaining: bool
    # The region the session is for: the one chosen, else the grant's default_region.
    region: str = ""
    destination: str = ""
    console_url: str = field(default="", repr=False)
    credentials: aws.Credentials | None = field(default=None, repr=False)


def usable_grants(user: User) -> QuerySet[RoleMapping]:
    """The grants a person can use right now, for the self-service page and the API."""
    return (
        RoleMapping.objects.usable_by(user)
        .select_related("tenant", "team")
        .order_by("tenant__name", "role_arn", "label")
    )


def _usable_grant(*, user: User, grant_id: int, kind: IssueKind, meta: RequestMeta) -> RoleMapping:
    mapping = usable_grants(user).filter(pk=grant_id).first()
    if mapping is not None:
        return mapping
    record_refusal(
        kind=kind,
        user=user,
        grant_id=grant_id,
        meta=meta,
        detail="no usable grant with this id (unknown, another tenant's, revoked or expired)",
    )
    raise GrantNotFound


def _window(
    *, kind: IssueKind, user: User, mapping: RoleMapping, meta: RequestMeta
) -> tuple[Window, int]:
    """The open access window an on-request grant needs and the whole seconds left in it,
    at least the shortest session AWS issues; otherwise a `<kind>.denied` record and a
    refusal."""
    now = timezone.now()
    window = open_window(user, mapping, now)
    if window is None:
        code, problem = (
            "NoAccessWindow",
            f"“{mapping.label}” is used on request: ask for access, and once it is approved "
            "open the console or get CLI credentials here.",
        )
    elif (window.ends_at - now).total_seconds() < MIN_SESSION_SECONDS:
        minutes = max(0, int((window.ends_at - now).total_seconds()) // 60)
        code, problem = (
            "AccessWindowEnding",
            f"Your access window ends at {humanize.clock(window.ends_at)}, in {minutes} minutes: "
            "AWS issues no session shorter than 15 minutes. Request access again to go on.",
        )
    else:
        return window, int((window.ends_at - now).total_seconds())
    _deny_outside_window(
        kind=kind, user=user, mapping=mapping, meta=meta, code=code, problem=problem
    )


def _deny_outside_window(
    *, kind: IssueKind, user: User, mapping: RoleMapping, meta: RequestMeta, code: str, problem: str
) -> NoReturn:
    record(
        kind.action("denied"),
        actor=user,
        mapping=mapping,
        meta=meta,
        error_code=code,
        detail=f"on-request grant: {problem}",
    )
    raise AccessWindowRequired(problem)


def session_limit(mapping: RoleMapping) -> int:
    return min(mapping.max_session_seconds, mapping.tenant.max_session_seconds)


DEFAULT_SESSION_SECONDS = 3600


def _session_seconds(mapping: RoleMapping, requested: int | None) -> int:
    """The length asked for, within the grant; one hour (or the grant's limit, if shorter)
    when nothing was asked for: the longest session is a choice, not a default."""
    limit = session_limit(mapping)
    if requested is None:
        return min(DEFAULT_SESSION_SECONDS, limit)
    return max(MIN_SESSION_SECONDS, min(int(requested), limit))


@sensitive_variables("assumed", "signin_token", "url")
def _issue(
    *,
    kind: IssueKind,
    user: User,
    grant_id: int,
    seconds: int | None,
    meta: RequestMeta,
    region: str | None = None,
    path: str | None = None,
) -> "IssuedSession":
    within_limits(kind=kind, user=user, grant_id=grant_id, meta=meta)
    mapping = _usable_grant(user=user, grant_id=grant_id, kind=kind, meta=meta)
    within_limits(kind=kind, user=user, grant_id=grant_id, meta=meta, tenant=mapping.tenant)
    role = mapping.role
    destination = ""
    try:
        region = _chosen_region(mapping, region)
        if kind is IssueKind.CONSOLE:
            destination = _destination(mapping, region=region, path=path)
    except InvalidChoice as error:
        refuse_choice(
            kind=kind,
            user=user,
            grant_id=grant_id,
            meta=meta,
            problem=str(error),
            counted=True,  # against the rate limits above
        )
    seconds = _session_seconds(mapping, seconds)
    under, window = "", None
    if mapping.on_request:
        # Every session ends with the window it was issued under, never later.
        window, left = _window(kind=kind, user=user, mapping=mapping, meta=meta)
        seconds = min(seconds, left)
        under = f"under access request #{window.request_id}"
    tenant = mapping.tenant
    session_name = user.session_name
    source_identity = session_name if tenant.send_source_identity else ""
    audit: dict[str, Any] = {
        "actor": user,
        "meta": meta,
        "mapping": mapping,
        "role_session_name": session_name,
        "source_identity": source_identity,
    }

    # Announced before AWS is asked; durable once the outcome's record commits (below).
    record(kind.action("requested"), duration_seconds=seconds, detail=under, durable=False, **audit)
    capped = False
    try:
        chained = aws.broker_uses_temporary_credentials()
        if chained and seconds > aws.CHAINED_SESSION_LIMIT:
            seconds, capped = aws.CHAINED_SESSION_LIMIT, True
        assumed = aws.assume_role(
            role=role,
            session_name=session_name,
            duration_seconds=seconds,
            external_id=tenant.external_id,
            source_identity=source_identity,
            tags=(
                {"portal-tenant": tenant.slug, "portal-user": session_name}
                if tenant.send_session_tags
                else None
            ),
            policy=mapping.session_policy,
        )
        url = ""
        if kind is IssueKind.CONSOLE:
            signin_token = aws.get_signin_token(
                assumed.credentials,
                partition=role.partition,
                session_duration=None if chained else seconds,
            )
            url = aws.login_url(
                partition=role.partition,
                signin_token=signin_token,
                destination=destination,
                issuer=settings.PORTAL_ISSUER_URL,
                sign_out_first=settings.AWS_SIGN_OUT_FIRST,
            )
    except aws.AwsError as error:
        record(
            kind.action("failed"),
            duration_seconds=seconds,
            error_code=error.code[:64],
            aws_request_id=error.aws_request_id,
            detail=error.message[:500],
            **audit,
        )
        raise

    if window is not None and open_window(user, mapping, timezone.now()) != window:
        # The window was ended while AWS answered: hand nothing out. (Ending a window
        # covers every session asked for before it, by its `requested` record.)
        _deny_outside_window(
            kind=kind,
            user=user,
            mapping=mapping,
            meta=meta,
            code="AccessWindowClosed",
            problem="Your access ended while the session was being made, so it is not "
            "handed out. Request access again to go on.",
        )
    record(
        kind.action("issued"),
        duration_seconds=seconds,
        aws_request_id=assumed.aws_request_id,
        assumed_role_arn=assumed.assumed_role_arn,
        detail=under,
        **audit,
    )
    return IssuedSession(
        mapping=mapping,
        seconds=seconds,
        expires_at=assumed.credentials.expiration,
        assumed_role_arn=assumed.assumed_role_arn,
        capped_by_chaining=capped,
        region=region or mapping.default_region,
        destination=destination,
        console_url=url,
        credentials=assumed.credentials,
    )


def _chosen_region(mapping: RoleMapping, region: str | None) -> str:
    """The region the person chose ("": the console's default), or the grant's when they
    chose none. Raises InvalidChoice for one the role's partition does not have."""
    partition = mapping.role.partition
    region = mapping.region if region is None else region
    if region and region not in aws.available_regions(partition):
        raise InvalidChoice(f"{region} is not a region of this role's partition ({partition}).")
    return region


def _destination(mapping: RoleMapping, *, region: str, path: str | None = None) -> str:
    path = path or mapping.destination_path
    if path not in CONSOLE_SERVICES:
        raise InvalidChoice("Choose a console destination from the list.")
    return aws.console_destination(mapping.role.partition, path=path, region=region)


def issue_console_url(
    *,
    user: User,
    grant_id: int,
    seconds: int | None = None,
    region: str | None = None,
    path: str | None = None,
    meta: RequestMeta,
) -> IssuedSession:
    """Assume the granted role and return an IssuedSession carrying a console sign-in URL.

    Raises GrantNotFound (after a `console.denied` record, with no AWS call),
    InvalidChoice, AuditUnavailable, or aws.AwsError (after a `console.failed` record).
    """
    return _issue(
        kind=IssueKind.CONSOLE,
        user=user,
        grant_id=grant_id,
        seconds=seconds,
        meta=meta,
        region=region,
        path=path,
    )


def issue_cli_credentials(
    *,
    user: User,
    grant_id: int,
    seconds: int | None = None,
    region: str | None = None,
    meta: RequestMeta,
) -> IssuedSession:
    """Assume the granted role and return an IssuedSession carrying temporary credentials
    (for `region`, the one their profile names)."""
    return _issue(
        kind=IssueKind.CLI,
        user=user,
        grant_id=grant_id,
        seconds=seconds,
        region=region,
        meta=meta,
    )
