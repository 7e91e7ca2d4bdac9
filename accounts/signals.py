"""Sign-in events: the session clocks, and audit records of failures and lockouts."""

import time

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from accounts.backends import PASSWORD_REFUSAL
from accounts.models import Membership, Team, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core.scoping import forget_memberships
from core.sessions import AUTHENTICATED_AT, PROVIDER_FACTOR, SEEN_AT, SIGNED_IN_AT


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def membership_changed(sender, **kwargs):
    # The scoping door reads each person's memberships once a request: not any more.
    forget_memberships()


@receiver(user_logged_in)
def start_session_clocks(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = request.session[SEEN_AT] = now
        request.session[AUTHENTICATED_AT] = now
        # Only a sign-in through the provider says its second factor counts (accounts.sso).
        request.session.pop(PROVIDER_FACTOR, None)


def _tenant_of(username):
    # Name the tenant only when the account exists and belongs to exactly one.
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        return None
    tenants = [m.tenant for m in user.memberships.select_related("tenant")[:2]]
    return tenants[0] if len(tenants) == 1 else None


def _record(action, request, credentials, detail):
    username = str((credentials or {}).get("username") or "")[:150]
    meta = RequestMeta.from_request(request) if request else None
    record(action, actor_username=username, tenant=_tenant_of(username), meta=meta, detail=detail)


@receiver(user_login_failed)
def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django masks the password in `credentials`; only the username is kept.
    reason = (
        (credentials or {}).get("reason")
        or getattr(request, PASSWORD_REFUSAL, "")
        or "wrong username or password"
    )
    _record(AuditEvent.Action.LOGIN_FAILED, request, credentials, reason[:500])


@receiver(user_locked_out)
def record_lockout(sender, request, username=None, ip_address=None, **kwargs):
    _record(
        AuditEvent.Action.LOGIN_LOCKED, request, {"username": username}, "too many failed attempts"
    )


@receiver(m2m_changed, sender=Team.members.through)
def refuse_hand_made_members_of_managed_teams(sender, instance, action, reverse, pk_set, **kwargs):
    """Nobody joins a team managed by the identity provider except through its groups at a
    sign-in (accounts.sso writes those links itself): someone added by hand, a password
    user say, would keep the team's grants though the provider never named them. Leaving
    (a membership removed) is always allowed."""
    if action != "pre_add" or not pk_set:
        return
    if reverse:
        teams = Team.objects.unscoped("the teams a person is joining").filter(pk__in=pk_set)
    else:
        teams = [instance]
    managed = sorted(team.name for team in teams if team.provider_group)
    if managed:
        raise ValidationError(
            f"Members of {', '.join(managed)} come from the identity provider's groups."
        )
