"""Changes to people, memberships and teams, wherever they are made (admin, commands,
pages): each is an audit record in the tenants it concerns, and takes access with it.

- A person switched off, switched on, or given a new password: recorded; their API tokens
  die (and stay dead when the account is switched on again).
- A membership added, changed or removed: recorded. Removing one ends the person's grants
  in that tenant and takes them out of its teams, so adding them back restores nothing;
  leaving the last tenant kills their API tokens.
- A team created, deleted, or its members changed: recorded.

The actor is whoever the current request belongs to ("(command line)" outside a request).
"""

from django.contrib.auth.hashers import is_password_usable
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import Membership, Team, Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record, record_for_person
from core.middleware import current_request
from federation import services

Action = AuditEvent.Action


def _acting():
    """actor, actor_username and meta for a record of the change being made now."""
    request = current_request.get()
    if request is None:
        return {"actor": None, "actor_username": "(command line)", "meta": None}
    user = getattr(request, "user", None)
    return {
        "actor": user if user is not None and user.is_authenticated else None,
        "meta": RequestMeta.from_request(request),
    }


def _kill_tokens(person, *, reason, tenants=None):
    """Revoke the person's live tokens at once, on their own statement, so they are dead
    even if writing the records below then fails; then record each revocation."""
    tokens = list(person.api_tokens.live().select_related("user"))
    if tokens:
        person.api_tokens.filter(pk__in=[token.pk for token in tokens]).update(
            revoked_at=timezone.now()
        )
        services.revoke_tokens(tokens=tokens, reason=reason, tenants=tenants, **_acting())


# --- people ---------------------------------------------------------------------------------


@receiver(pre_save, sender=User)
def _remember_account_state(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or instance._state.adding:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login at every sign-in: nothing to compare
    instance._before_save = (
        User.objects.filter(pk=instance.pk).values("is_active", "password").first()
    )


@receiver(post_save, sender=User)
def _record_account_changes(sender, instance, created, raw=False, **kwargs):
    before = instance.__dict__.pop("_before_save", None)
    if raw or created or before is None:
        return
    acting = _acting()
    name = instance.get_username()
    if before["is_active"] != instance.is_active:
        action = Action.USER_REACTIVATED if instance.is_active else Action.USER_DEACTIVATED
        record_for_person(
            action,
            person=instance,
            detail=f"{name} {'switched on' if instance.is_active else 'switched off'}",
            **acting,
        )
        if not instance.is_active:
            _kill_tokens(instance, reason="account switched off")
    # A new password, or none (an unusable one), or a first usable one. Not a rehash of the
    # same password with a stronger hasher at sign-in, which leaves _password empty.
    old, new = before["password"], instance.password
    changed = old != new and (
        instance._password is not None
        or not (old and is_password_usable(old))
        or not is_password_usable(new)
    )
    if changed and old:
        by_self = acting["actor"] is not None and acting["actor"].pk == instance.pk
        record_for_person(
            Action.PASSWORD_CHANGED if by_self else Action.PASSWORD_RESET,
            person=instance,
            detail=f"password of {name} {'changed' if by_self else 'reset by someone else'}",
            **acting,
        )
        _kill_tokens(instance, reason="password changed")


# --- memberships ------------------------------------------------------------------------------


@receiver(pre_save, sender=Membership)
def _remember_role(sender, instance, raw=False, **kwargs):
    if not raw and not instance._state.adding:
        instance._role_before = (
            Membership.objects.unscoped("the membership being saved")
            .filter(pk=instance.pk)
            .values_list("role", flat=True)
            .first()
        )


@receiver(post_save, sender=Membership)
def _record_membership(sender, instance, created, raw=False, **kwargs):
    before = instance.__dict__.pop("_role_before", None)
    if raw or not (created or (before and before != instance.role)):
        return
    name = instance.user.get_username()
    record(
        Action.MEMBERSHIP_ADDED if created else Action.MEMBERSHIP_CHANGED,
        tenant=instance.tenant,
        detail=(
            f"{name} joined as {instance.role}"
            if created
            else f"{name} is now {instance.role} (was {before})"
        ),
        **_acting(),
    )


def _tenant_going(origin):
    # A tenant being deleted takes its memberships, teams and grants with it: nothing can be
    # recorded in its trail (the records would point at a tenant that is gone).
    return isinstance(origin, Tenant)


@receiver(post_delete, sender=Membership)
def _leave_tenant(sender, instance, origin=None, **kwargs):
    """Leaving a tenant leaves its access: grants ended, teams left, and with the last
    tenant, API tokens revoked. Each is recorded."""
    person, tenant = instance.user, instance.tenant
    if _tenant_going(origin):
        if not person.memberships.exclude(tenant=tenant).exists():
            _kill_tokens(person, reason=f"tenant {tenant.slug} deleted", tenants=[None])
        return
    acting = _acting()
    record(
        Action.MEMBERSHIP_REMOVED,
        tenant=tenant,
        detail=f"{person.get_username()} left the tenant",
        **acting,
    )
    for mapping in person.role_mappings.filter(tenant=tenant, active=True):
        services.revoke_grant(mapping=mapping, **acting)
    for team in person.teams.filter(tenant=tenant):
        team.members.remove(person)
    if not person.memberships.exists():
        _kill_tokens(person, reason="left the last tenant", tenants=[tenant])


# --- teams ------------------------------------------------------------------------------------


@receiver(post_save, sender=Team)
def _record_new_team(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        record(
            Action.TEAM_CREATED, tenant=instance.tenant, detail=f"team {instance.name}", **_acting()
        )


@receiver(post_delete, sender=Team)
def _record_deleted_team(sender, instance, origin=None, **kwargs):
    if _tenant_going(origin):
        return
    record(Action.TEAM_DELETED, tenant=instance.tenant, detail=f"team {instance.name}", **_acting())


@receiver(m2m_changed, sender=Team.members.through)
def _record_team_members(sender, instance, action, reverse, pk_set, **kwargs):
    if action == "pre_clear":
        # clear() does not say who left: note it before they are gone.
        instance._cleared = list(instance.teams.all()) if reverse else list(instance.members.all())
        return
    if action == "post_clear":
        changed = instance.__dict__.pop("_cleared", [])
    elif action in {"post_add", "post_remove"} and pk_set:
        changed = list(
            Team.objects.unscoped("the teams this person just joined or left").filter(pk__in=pk_set)
            if reverse
            else User.objects.filter(pk__in=pk_set)
        )
    else:
        return
    verb = "added" if action == "post_add" else "removed"
    pairs = [(team, instance) for team in changed] if reverse else [(instance, p) for p in changed]
    for team, person in pairs:
        record(
            Action.TEAM_CHANGED,
            tenant=team.tenant,
            detail=f"{person.get_username()} {verb} {'to' if verb == 'added' else 'from'} "
            f"team {team.name}",
            **_acting(),
        )
