from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.models import Membership


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    memberships = Membership.objects.for_user(request.user).filter(user=request.user)
    return render(request, "home.html", {"memberships": memberships.select_related("tenant")})
