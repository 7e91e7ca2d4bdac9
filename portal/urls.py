from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView

from access import api as access_api
from access import views as access_views
from accounts import passkeys
from accounts import views as accounts_views
from audit import views as audit_views
from core import metrics, views
from federation import api
from federation import views as federation_views


class IdConverter:
    """A database id: digits that fit a 64-bit integer. Anything longer is a 404 here, not
    an overflow in the query behind the page."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("login/", accounts_views.LoginView.as_view(), name="login"),
    path("logout/", accounts_views.LogoutView.as_view(), name="logout"),
    path("login/oidc/callback/", accounts_views.sso_callback, name="sso-callback"),
    path("login/verify/", accounts_views.verify, name="verify"),
    path("login/confirm/", accounts_views.reauthenticate, name="reauthenticate"),
    path("account/", accounts_views.account, name="account"),
    path("account/two-factor/", accounts_views.two_factor, name="two-factor"),
    path("webauthn/", include((passkeys.urlpatterns, "otp_webauthn"))),
    path("account/password/", accounts_views.PasswordChangeView.as_view(), name="password-change"),
    path("", access_views.my_roles, name="home"),
    path("console/<id:grant_id>/", federation_views.console, name="console"),
    path("cli/<id:grant_id>/", federation_views.cli, name="cli"),
    path("roles/<id:grant_id>/star/", federation_views.star, name="star"),
    path("requests/", access_views.my_requests, name="requests"),
    path("requests/new/<id:grant_id>/", access_views.request_access, name="request-access"),
    path("requests/<id:request_id>/cancel/", access_views.cancel, name="cancel-request"),
    path("requests/<id:request_id>/end/", access_views.end, name="end-request"),
    path("approvals/", access_views.approvals, name="approvals"),
    path("approvals/<id:request_id>/", access_views.decide, name="decide"),
    path("approvals/<id:request_id>/review/", access_views.review, name="review"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("audit/export.csv", audit_views.audit_csv, name="audit-csv"),
    path("audit/<id:event_id>/", audit_views.audit_record, name="audit-record"),
    path("tokens/", federation_views.tokens, name="tokens"),
    path(
        "tools/portcullis-credentials",
        federation_views.credentials_helper,
        name="credentials-helper",
    ),
    path("tokens/<id:token_id>/revoke/", federation_views.revoke_token, name="revoke-token"),
    path("api/v1/roles", api.roles, name="api-roles"),
    path("api/v1/credentials/<id:grant_id>", api.credentials, name="api-credentials"),
    path("api/v1/requests", access_api.requests, name="api-requests"),
    path("api/v1/requests/<id:request_id>", access_api.request_detail, name="api-request"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's, a PDF...).
    path("favicon.ico", views.favicon),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The trail's admin pages moved with it to the audit app: old links still arrive.
    re_path(
        r"^admin/federation/auditevent/(?P<rest>.*)$",
        RedirectView.as_view(url="/admin/audit/auditevent/%(rest)s", query_string=True),
    ),
    path("admin/", admin.site.urls),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
