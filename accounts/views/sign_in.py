"""Signing in and out: with a password, or through the company's identity provider and back."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts import mfa, sso
from accounts.lockout import lockout_response
from accounts.views.steps import next_url, second_step
from core.actions import action_page
from core.sessions import AUTHENTICATED_AT, PROVIDER_FACTOR


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
            return start_at_provider(request, address=address)
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


def start_at_provider(request, *, address, again=None):
    try:
        there = sso.begin(
            request,
            address=address,
            next_url=next_url(request),
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
            return second_step(request, signed.next_url)
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
