"""A person's own account: their time zone, and changing their password."""

from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts.models import User
from core.middleware import TIME_ZONE_COOKIE
from core.validation import known_time_zones, listed_time_zones


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
