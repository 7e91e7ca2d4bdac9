"""The second factor: asked for after the password, set up and managed (authenticator app,
passkeys, recovery codes), and asked again before anything sensitive (re-authentication)."""

import time

from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import mfa, passkeys, sso
from accounts.backends import passwords_off_for
from accounts.lockout import lockout_response
from accounts.views.sign_in import start_at_provider
from accounts.views.steps import confirm_first, next_url, second_step
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person


def _failed(request, *, reason):
    """A wrong password or code: counted by the lockout like a failed sign-in."""
    credentials = {"username": request.user.get_username()}
    user_login_failed.send(
        sender=__name__, credentials={**credentials, "reason": reason}, request=request
    )
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return lockout_response(request, credentials=credentials)
    return None


def _code_refused(request, error, *, reason):
    """A code that did not sign in: a throttled one asks to wait (and counts for nothing);
    a wrong one counts like a failed sign-in. Returns the lockout page, or None."""
    if isinstance(error, mfa.CodeThrottled):
        messages.error(request, str(error))
        return None
    return _failed(request, reason=reason)


WRONG_CODE = "That code is not right. Try the current one."


def _checked_code(request, *, wrong):
    """(device or None, the lockout page or None): the code in the POST, checked. A wrong
    one counts like a failed sign-in and the page says `wrong`; a throttled one says wait."""
    device, throttled = _check_code(request)
    if device:
        return device, None
    locked = _code_refused(request, throttled, reason="wrong second-factor code")
    if not locked and not throttled:
        messages.error(request, wrong)
    return None, locked


def _check_code(request):
    """(device or None, the refusal to report): the code in the POST, checked."""
    try:
        return mfa.verify_code(request, mfa.code_from(request.POST)), None
    except mfa.CodeThrottled as error:
        return None, error


@sensitive_post_parameters("code", "recovery_code")
@never_cache
@login_required
def verify(request):
    """After the password: the code from the authenticator app, or a recovery code."""
    if request.user.is_verified() or not mfa.has_second_factor(request.user):
        return redirect(next_url(request))
    if request.method == "POST":
        device, locked = _checked_code(
            request, wrong="That code is not right. Try the current one."
        )
        if device or locked:
            return locked or redirect(next_url(request))
    user = request.user
    context = {
        "next": next_url(request),
        "has_app": mfa.has_authenticator_app(user),
        "has_passkeys": mfa.passkeys_left(user),
        "has_codes": mfa.has_authenticator_app(user) or mfa.recovery_codes_left(user),
    }
    return render(request, "accounts/verify.html", context)


def _fresh(request):
    """The person proved who they are in the last few minutes (a sign-in with its second
    factor, or a re-authentication): enough to remove a passkey or renew recovery codes."""
    return mfa.recently_authenticated(request, within=mfa.SECOND_STEP_SECONDS)


@sensitive_post_parameters("code", "recovery_code")
@never_cache
@login_required
def two_factor(request):
    """The second factors: the authenticator app, passkeys and recovery codes."""
    user = request.user
    meta = RequestMeta.from_request(request)
    context = {"required": mfa.required_for(user)}
    if request.method == "POST":
        action = request.POST.get("action")
        has_app = mfa.has_authenticator_app(user)
        # Adding a factor beside one the person has takes that one, in this session.
        may_add = user.is_verified() or not mfa.has_second_factor(user)
        if action == "confirm" and not has_app and may_add:
            codes = mfa.confirm_enrolment(request, request.POST.get("code", ""))
            if codes:
                context["recovery_codes"] = codes
                record_for_person(
                    AuditEvent.Action.MFA_ENROLLED,
                    actor=user,
                    meta=meta,
                    detail="authenticator app added",
                )
            else:
                locked = _failed(request, reason="wrong code while setting up a second factor")
                if locked:
                    return locked
                messages.error(request, "That code is not right. Check the time on your phone.")
        elif action in {"renew", "remove"} and mfa.has_second_factor(user):
            code_given = bool(mfa.code_from(request.POST).strip())
            if code_given or not _fresh(request):
                if not code_given and mfa.passkeys_left(user):
                    return confirm_first(reverse("two-factor"))
                device, locked = _checked_code(
                    request, wrong="That code is not right: nothing was changed."
                )
                if locked:
                    return locked
                if not device:
                    action = None
            if action == "renew":
                context["recovery_codes"] = mfa.new_recovery_codes(user)
            elif action == "remove" and has_app:
                mfa.remove_authenticator_app(user)
                mfa.keep_verified(request)
                record_for_person(
                    AuditEvent.Action.MFA_REMOVED,
                    actor=user,
                    meta=meta,
                    detail="authenticator app removed",
                )
                messages.success(request, "The authenticator app is off.")
                return redirect("two-factor")
        elif action == "rename-passkey":
            name = request.POST.get("name", "")
            if not name.strip():
                messages.error(request, "Give the passkey a name.")
            elif passkeys.rename(user, request.POST.get("passkey"), name):
                messages.success(request, "Passkey renamed.")
            return redirect("two-factor")
        elif action == "remove-passkey":
            if not _fresh(request):
                return confirm_first(reverse("two-factor"))
            name = passkeys.remove(user, request.POST.get("passkey"))
            mfa.keep_verified(request)
            if name:
                record_for_person(
                    AuditEvent.Action.MFA_REMOVED,
                    actor=user,
                    meta=meta,
                    detail=f"passkey removed: {name}",
                )
                messages.success(request, f"{name} removed.")
            return redirect("two-factor")
    if "recovery_codes" not in context:
        context["recovery_codes"] = request.session.pop(passkeys.NEW_RECOVERY_CODES, None)
    has_app = mfa.has_authenticator_app(user)
    context.update(
        has_app=has_app,
        enrolled=mfa.has_second_factor(user, besides_recovery_codes=True),
        passkeys=passkeys.passkeys_of(user),
        codes_left=mfa.recovery_codes_left(user),
    )
    if not has_app:
        context.update(mfa.enrolment_details(request))
    return render(request, "accounts/two_factor.html", context)


@sensitive_post_parameters("password", "code", "recovery_code")
@never_cache
@login_required
def reauthenticate(request):
    """Prove it is still you before credentials are issued on an older sign-in: the first
    factor again (the password, or signing in again at the company's provider), then the
    second (a code or a passkey) when the person has one and the provider's does not count.
    A password and a code may come in one form."""
    user = request.user
    provider = sso.provider_of(user)
    passwords = user.has_usable_password() and not passwords_off_for(user)
    second_step = (
        time.time() - request.session.get(mfa.FIRST_FACTOR_AGAIN_AT, 0) < mfa.SECOND_STEP_SECONDS
    )
    if request.method == "POST":
        if request.POST.get("action") == "provider" and provider is not None:
            return start_at_provider(request, address="", again=user)
        if second_step:
            response = _confirm_with_code(request)
        elif passwords:
            response = _confirm_with_password(request)
        else:
            response = None
        if response is not None:
            return response
    context = {
        "needs_code": mfa.has_second_factor(user),
        "has_app": mfa.has_authenticator_app(user),
        "has_passkeys": mfa.passkeys_left(user),
        "next": next_url(request),
        "provider": provider,
        "passwords": passwords,
        "second_step": second_step,
    }
    return render(request, "accounts/reauthenticate.html", context)


def _confirm_with_code(request):
    """The second step: a code (a passkey completes it through accounts.passkeys)."""
    device, locked = _checked_code(request, wrong=WRONG_CODE)
    if device:
        request.session.pop(mfa.FIRST_FACTOR_AGAIN_AT, None)
        mfa.mark_authenticated(request)
        return redirect(next_url(request))
    return locked


def _confirm_with_password(request):
    user = authenticate(
        request,
        username=request.user.get_username(),
        password=request.POST.get("password", ""),
    )
    if user is None or user.pk != request.user.pk:
        # authenticate() already counted the failed password.
        credentials = {"username": request.user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return lockout_response(request, credentials=credentials)
        messages.error(request, "That did not match. Try again.")
        return None
    if not mfa.has_second_factor(user):
        mfa.mark_authenticated(request)
        return redirect(next_url(request))
    if not mfa.code_from(request.POST).strip():
        # The password is right: now the code or the passkey, on the next page.
        return second_step(request, next_url(request))
    device, locked = _checked_code(request, wrong="That did not match. Try again.")
    if not device:
        return locked
    mfa.mark_authenticated(request)
    return redirect(next_url(request))
