"""Signing in and proving who you are: password or the company's identity provider, the
second factor, re-authentication, and a person's own account; a module a subject."""

from accounts.views.account import PasswordChangeView, account
from accounts.views.second_factor import reauthenticate, two_factor, verify
from accounts.views.sign_in import LoginView, LogoutView, sso_callback

__all__ = [
    "LoginView",
    "LogoutView",
    "PasswordChangeView",
    "account",
    "reauthenticate",
    "sso_callback",
    "two_factor",
    "verify",
]
