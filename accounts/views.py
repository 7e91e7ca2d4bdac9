"""Signing in and proving who you are: password or the company's identity provider,
second factor, re-authentication."""

import time

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import mfa, passkeys, sso
from accounts.backends import passwords_off_for
from accounts.lockout import lockout_response
from accounts.models import User
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person
from core.actions import action_page
from core.middleware import TIME_ZONE_COOKIE
from core.sessions import AUTHENTICATED_AT, PROVIDER_FACTOR
from core.validation import known_time_zones, listed_time_zones


class LoginForm(AuthenticationForm):
    # AuthenticationForm sets max_length on the field without its validator: a username
    # longer than any account's would still be looked up and counted.
    username = UsernameField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))

    error_messages = {
        **AuthenticationForm.error_messages,
        # Django's says both fields may be case-sensitive; here usernames are not.
        "invalid_login": "That username and password do not match. Usernames are not "
        "case-sensitive; passwords are.",
    }

    # The page shows the form's own errors only, above the fields: say there what is missing.
    MISSING = {
        ("username", "password"): "Enter your username and password, or your work e-mail "
        "address above.",
        ("username",): "Enter your username.",
        ("password",): "Enter your password.",
    }

    def clean(self):
        missing = tuple(
            name for name in ("username", "password") if self.has_error(name, "required")
        )
        if missing:
            # Nothing to check a password against: no sign-in is tried, or counted.
            raise ValidationError(self.MISSING[missing], code="missing")
        return super().clean()


def _company_address_error(address: str) -> str:
    """Why `address` cannot be a work e-mail address or a tenant's slug, or "". Checked
    before any provider is looked up: a typo is the person's to fix, not a failed sign-in."""
    for validate in (validate_email, validate_slug):
        try:
            validate(address)
        except ValidationError:
            continue
        return ""
    return "That is not an e-mail address. Enter your work e-mail address, such as you@company.com."


class LoginView(auth_views.LoginView):
    """Username and password, and beside them "Sign in with your company account": a
    work e-mail address (or the tenant's slug) posted here goes to that tenant's provider."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def post(self, request, *args, **kwargs):
        if "email" in request.POST and "username" not in request.POST:
            address = request.POST.get("email", "")
            if not address.strip():
                # Nothing typed: ask for it, rather than report a sign-in that failed.
                messages.error(
                    request, "Enter your work e-mail address to sign in with your company account."
                )
                return redirect(request.get_full_path())
            if problem := _company_address_error(address.strip()):
                # The sign-in page again, with what was typed and what is wrong with it.
                context = self.get_context_data(
                    form=self.get_form_class()(request),
                    email=address.strip(),
                    email_error=problem,
                )
                return self.render_to_response(context)
            return _start_at_provider(request, address=address)
        return super().post(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    """Signing out ends the portal session; someone who came through their company's
    provider is offered to sign out there too, when it supports that."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        return action_page(
            request,
            title="Sign out",
            does="This address signs you out: the Sign out button at the top of every page "
            "does it.",
            back="home",
            back_label="My roles",
        )

    def post(self, request, *args, **kwargs):
        provider_id = request.session.get(sso.SIGNED_IN_WITH)
        response = super().post(request, *args, **kwargs)
        if provider_id:
            there = sso.sign_out_url(
                provider_id, come_back_to=request.build_absolute_uri(reverse("login"))
            )
            if there:
                return render(request, "registration/signed_out.html", {"provider_url": there})
        return response


def _callback_uri(request):
    return request.build_absolute_uri(reverse("sso-callback"))


def _sso_refused(request, failure):
    """The one neutral page for every failed sign-in through a provider."""
    sso.record_failure(request, failure)
    if failure.who and sso.is_locked(request, failure.who):
        return lockout_response(request, credentials={"username": failure.who})
    response = render(
        request,
        "accounts/sso_failed.html",
        {"request_id": getattr(request, "request_id", "")},
        status=403,
    )
    response["Cache-Control"] = "no-store"
    return response


def _start_at_provider(request, *, address, again=None):
    try:
        there = sso.begin(
            request,
            address=address,
            next_url=_next(request),
            redirect_uri=_callback_uri(request),
            again=again,
        )
    except sso.SignInFailed as failure:
        return _sso_refused(request, failure)
    except sso.SignInLocked as locked:
        return lockout_response(request, credentials={"username": locked.who})
    # A page that moves on by itself rather than a redirect: the sign-in form's
    # Content-Security-Policy (form-action 'self') would stop a redirect to the provider.
    response = render(request, "accounts/sso_continue.html", {"provider_url": there})
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def sso_callback(request):
    """The provider sends the browser back here with a code (or an error)."""
    if sso.is_locked(request, ""):
        return lockout_response(request, credentials={"username": ""})
    try:
        signed = sso.complete(request, params=request.GET, redirect_uri=_callback_uri(request))
    except sso.SignInFailed as failure:
        return _sso_refused(request, failure)
    except sso.SignInLocked as locked:
        return lockout_response(request, credentials={"username": locked.who})
    if sso.is_locked(request, signed.user.get_username()):
        return lockout_response(request, credentials={"username": signed.user.get_username()})
    if signed.fresh_sign_in:
        # Signed in again at the provider to prove it is still them (re-authentication).
        if signed.provider_factor or not mfa.has_second_factor(signed.user):
            mfa.mark_authenticated(request)
        else:
            return _second_step(request, signed.next_url)
    else:
        login(request, signed.user, backend=sso.BACKEND)
        request.session[sso.SIGNED_IN_WITH] = signed.provider.pk
        # Proof of who they are is as fresh as the provider's own sign-in, which may have
        # been hours ago (re-authentication asks the provider for a new one).
        request.session[AUTHENTICATED_AT] = signed.authenticated_at
    if signed.provider_factor:
        request.session[PROVIDER_FACTOR] = True
    sso.record_success(request, signed)
    return redirect(signed.next_url)


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's, with the password rules' complaints on the new password's own field
    (Django puts them under the confirmation)."""

    def validate_password_for_user(self, user, *args, **kwargs):
        if not self.has_error("new_password2"):
            super().validate_password_for_user(user, "new_password1")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing the password keeps this session and ends every other one."""

    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm

    def get_success_url(self):
        messages.success(self.request, "Password changed. Your other sessions have ended.")
        return reverse("two-factor")


def _next(request, default="home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse(default)


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
        return redirect(_next(request))
    if request.method == "POST":
        device, locked = _checked_code(
            request, wrong="That code is not right. Try the current one."
        )
        if device or locked:
            return locked or redirect(_next(request))
    user = request.user
    context = {
        "next": _next(request),
        "has_app": mfa.has_authenticator_app(user),
        "has_passkeys": mfa.passkeys_left(user),
        "has_codes": mfa.has_authenticator_app(user) or mfa.recovery_codes_left(user),
    }
    return render(request, "accounts/verify.html", context)


def _fresh(request):
    """The person proved who they are in the last few minutes (a sign-in with its second
    factor, or a re-authentication): enough to remove a passkey or renew recovery codes."""
    return mfa.recently_authenticated(request, within=mfa.SECOND_STEP_SECONDS)


def _confirm_first(next_url):
    """The re-authentication page, and then `next_url`."""
    return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': next_url})}")


def _second_step(request, next_url):
    """The first factor is proven again: the re-authentication page asks for the second."""
    request.session[mfa.FIRST_FACTOR_AGAIN_AT] = time.time()
    return _confirm_first(next_url)


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
                    return _confirm_first(reverse("two-factor"))
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
                return _confirm_first(reverse("two-factor"))
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
            return _start_at_provider(request, address="", again=user)
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
        "next": _next(request),
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
        return redirect(_next(request))
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
        return redirect(_next(request))
    if not mfa.code_from(request.POST).strip():
        # The password is right: now the code or the passkey, on the next page.
        return _second_step(request, _next(request))
    device, locked = _checked_code(request, wrong="That did not match. Try again.")
    if not device:
        return locked
    mfa.mark_authenticated(request)
    return redirect(_next(request))


@never_cache
@login_required
def account(request):
    """Your account: the time zone pages show times in."""
    user = request.user
    zones = listed_time_zones()
    if user.time_zone and user.time_zone not in zones:
        # An old spelling chosen before the list left them out: still theirs, still shown.
        zones = tuple(sorted((*zones, user.time_zone)))
    if request.method == "POST":
        chosen = request.POST.get("time_zone", "")
        if chosen and chosen not in known_time_zones():
            messages.error(request, "Choose a time zone from the list.")
        else:
            User.objects.filter(pk=user.pk).update(time_zone=chosen)
            messages.success(request, f"Times now show in {chosen or 'your browser’s time zone'}.")
            return redirect("account")
    browser = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    return render(
        request,
        "accounts/account.html",
        {
            "zones": zones,
            "chosen": user.time_zone,
            "browser": browser if browser in known_time_zones() else "",
        },
    )
