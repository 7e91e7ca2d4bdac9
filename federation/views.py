"""The self-service pages: my roles, a console link, CLI credentials, my API tokens."""

import functools
import secrets
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts import mfa
from accounts.models import Membership
from audit.models import AuditEvent
from audit.records import RequestMeta
from core.actions import post_only
from core.errors import PortalError
from core.views import error_response
from federation import aws, services
from federation.forms import TokenForm, duration_choices
from federation.models import (
    CONSOLE_SERVICES,
    ApiToken,
    Favourite,
    RoleMapping,
)


@functools.lru_cache(maxsize=512)
def _cached_options(choices, selected):
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if value == selected else "", label) for value, label in choices),
    )


def _options(choices, selected):
    """<option> tags for a select, the `selected` value marked."""
    return _cached_options(tuple(choices), selected)


def offer_choices(grant, limit):
    """Set the choices the roles page offers for a grant: session lengths up to `limit`,
    console destinations and regions. Built here, not in template loops: a page with
    hundreds of grants stays quick."""
    grant.limit = limit
    grant.duration_options = _options(duration_choices(limit), min(3600, limit))
    grant.destination_options = _options(list(CONSOLE_SERVICES.items()), grant.destination_path)
    regions = [("", "Default")] + [(r, r) for r in aws.available_regions(grant.role.partition)]
    grant.region_options = _options(regions, grant.region)


def roles_page(request, grants, **context):
    """The self-service page: `grants` (with their choices offered, and their
    `account_name` when the caller looked it up), the starred ones
    first, the rest grouped by tenant and then by AWS account, and the roles the person
    used last. The page's view lives with access on request, which adds each on-request
    grant's state."""
    user = request.user
    starred = set(
        Favourite.objects.for_user(user).filter(user=user).values_list("grant_id", flat=True)
    )
    tenants = defaultdict(lambda: defaultdict(list))
    favourites = []
    for grant in grants:
        grant.starred = grant.pk in starred
        if not hasattr(grant, "account_name"):
            grant.account_name = grant.account_alias
        if grant.starred:
            favourites.append(grant)
        else:
            tenants[grant.tenant][(grant.role.account_id, grant.account_name)].append(grant)
    groups = [
        {
            "tenant": tenant,
            "accounts": [
                {"account_id": account_id, "alias": alias, "grants": items}
                for (account_id, alias), items in accounts.items()
            ],
        }
        for tenant, accounts in tenants.items()
    ]
    memberships = list(user.memberships.select_related("tenant")) if not grants else []
    context.setdefault("once", secrets.token_urlsafe(16))
    return render(
        request,
        "federation/my_roles.html",
        {
            "groups": groups,
            "favourites": favourites,
            "recent": _recently_used(user, grants) if grants else [],
            "services": CONSOLE_SERVICES,
            "memberships": memberships,
            "administers": [m.tenant for m in memberships if m.role == Membership.Role.ADMIN],
            **context,
        },
    )


RECENT_ROLES = 3


def _recently_used(user, grants):
    """The grants among `grants` the person opened last (their own audit records)."""
    shown = {grant.pk: grant for grant in grants}
    used = (
        AuditEvent.objects.for_user(user)
        .filter(actor=user, action__in=["console.issued", "cli.issued"])
        .exclude(mapping_id=None)
        .order_by("-created_at")
        .values_list("mapping_id", flat=True)[:50]
    )
    recent = [shown[pk] for pk in dict.fromkeys(used) if pk in shown]
    return recent[:RECENT_ROLES]


@post_only(
    title="Star a role",
    does="This address stars a role, or unstars it: the Star button beside each role on "
    "My roles does it, and starred roles come first.",
    back="home",
    back_label="My roles",
)
@login_required
def star(request, grant_id):
    """Star a role (it comes first on the roles page), or unstar it."""
    grant = get_object_or_404(RoleMapping.objects.usable_by(request.user), pk=grant_id)
    mine = Favourite.objects.for_user(request.user).filter(user=request.user, grant=grant)
    if not mine.delete()[0]:
        Favourite.objects.for_user(request.user).get_or_create(user=request.user, grant=grant)
    return redirect(f"{reverse('home')}#role-{grant.pk}")


def _issue(request, grant_id, *, kind):
    """Issue a session from the posted choices. Raises the services' PortalErrors."""
    meta = RequestMeta.from_request(request)
    chosen = services.read_choices(
        kind=kind, user=request.user, grant_id=grant_id, data=request.POST, meta=meta
    )
    if kind is services.IssueKind.CONSOLE:
        return services.issue_console_url(
            user=request.user,
            grant_id=grant_id,
            seconds=chosen.seconds,
            region=chosen.region,
            path=chosen.path,
            meta=meta,
        )
    return services.issue_cli_credentials(
        user=request.user,
        grant_id=grant_id,
        seconds=chosen.seconds,
        region=chosen.region,
        meta=meta,
    )


def _result(request, template, issued):
    response = render(
        request,
        template,
        {
            "issued": issued,
            "mapping": issued.mapping,
            "expires_in": int((issued.expires_at - timezone.now()).total_seconds()),
            "portal_url": request.build_absolute_uri("/"),
            "region": issued.region,
            "sandbox_sts": settings.AWS_SANDBOX_URL if settings.AWS_PORTAL_SANDBOX else "",
        },
    )
    # The page holds a bearer credential: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


# How long a roles page's form may be used once: its `once` token is remembered this long.
ONCE_SECONDS = 12 * 3600


def _first_use(request, *what):
    """Whether this form is sent for the first time. A page gives its forms one `once`
    token: a reload of a result page, back and forward, or a second click post the same
    form again, and must not make a second session or token silently. `what` is what the
    token is used up for (("console", 7): the roles page's other roles, and the other kind
    of session, stay open). (A client that sends no token, such as a script, is not held
    to it.)"""
    key = _once_key(request, *what)
    return key is None or cache.add(key, True, ONCE_SECONDS)


def _once_key(request, *what):
    """Where this form's `once` token is remembered for `what` (None: it sent none)."""
    once = request.POST.get("once", "")[:64]
    used_for = ":".join(str(part) for part in what)
    return f"portcullis:issued-once:{request.user.pk}:{used_for}:{once}" if once else None


def _not_used(request, *what):
    """Nothing was shown for this form (it failed): the same form may be sent again."""
    if key := _once_key(request, *what):
        cache.delete(key)


def _shown_once(request, grant_id, *, kind):
    try:
        services.refuse_repeat(
            kind=kind,
            user=request.user,
            grant_id=grant_id,
            meta=RequestMeta.from_request(request),
        )
    except services.AlreadyShown:
        pass
    except PortalError as error:  # over the person's rate limit, say
        return error_response(request, error)
    response = render(request, "federation/shown_once.html", {"grant_id": grant_id}, status=409)
    response["Cache-Control"] = "no-store"
    return response


def _issuing_view(*, kind, template):
    """A view that issues a session on POST and shows it on `template`. A GET (a bookmark,
    a shared link, a reload after signing in) issues nothing: it shows the role on the
    roles page, with its choices and buttons."""

    @sensitive_variables("issued")
    @require_http_methods(["GET", "POST"])
    @login_required
    def view(request, grant_id):
        role_page = f"{reverse('home')}?{urlencode({'role': grant_id})}"
        if request.method == "GET":
            return redirect(role_page)
        if not mfa.recently_authenticated(request):
            # An old sign-in: prove it is still you first. Nothing is issued, or used up,
            # meanwhile: the role waits on the roles page afterwards.
            messages.info(request, "Confirm it is you before opening a new session.")
            return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': role_page})}")
        if not _first_use(request, kind, grant_id):
            return _shown_once(request, grant_id, kind=kind)
        try:
            issued = _issue(request, grant_id, kind=kind)
        except PortalError as error:
            _not_used(request, kind, grant_id)
            return error_response(request, error)
        return _result(request, template, issued)

    return view


console = _issuing_view(kind=services.IssueKind.CONSOLE, template="federation/console.html")
cli = _issuing_view(kind=services.IssueKind.CLI, template="federation/cli.html")


HELPER = settings.BASE_DIR / "scripts" / "portcullis-credentials"


@require_GET
def credentials_helper(request):
    """The `credential_process` helper, to download: Python 3's standard library only, no
    secrets (it reads the person's token from their own file)."""
    response = FileResponse(
        HELPER.open("rb"),
        as_attachment=True,
        filename="portcullis-credentials",
        content_type="text/x-python; charset=utf-8",
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response


@sensitive_variables("token", "context")
@login_required
@never_cache
def tokens(request):
    """My personal API tokens: create one (shown once), see when each expires and was
    last used, revoke. The form is used once, as the roles page's are: a reload of the
    page that shows a new token makes no second one."""
    form = TokenForm(request.POST or None)
    context = {
        "form": form,
        "once": secrets.token_urlsafe(16),
        "tokens": ApiToken.objects.for_user(request.user).filter(user=request.user),
        "portal_url": request.build_absolute_uri("/"),
        # One ready profile per role: ids are what credential_process needs.
        # The AWS CLI needs a region for STS too: the grant's, else the portal's own.
        "profiles": [
            (grant, grant.default_region) for grant in services.usable_grants(request.user)
        ],
        "sandbox_sts": settings.AWS_SANDBOX_URL if settings.AWS_PORTAL_SANDBOX else "",
    }
    if request.method == "POST":
        if not mfa.recently_authenticated(request):
            # A lasting credential: the same recent sign-in as issuing a session.
            messages.info(request, "Confirm it is you before creating a token.")
            return redirect(f"{reverse('reauthenticate')}?next={reverse('tokens')}")
        if form.is_valid():
            if not _first_use(request, "token"):
                response = render(request, "federation/token_shown_once.html", status=409)
                response["Cache-Control"] = "no-store"
                return response
            try:
                token, context["new_token"] = services.create_token(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                    meta=RequestMeta.from_request(request),
                )
            except PortalError as error:
                _not_used(request, "token")
                return error_response(request, error)
            context["new_token_obj"] = token
            context["form"] = TokenForm()
    # never_cache marks the page no-store: it may hold a new token.
    return render(request, "federation/tokens.html", context, status=400 if form.errors else 200)


@post_only(
    title="Revoke an API token",
    does="This address revokes one of your API tokens: the Revoke button on API tokens does it.",
    back="tokens",
    back_label="API tokens",
)
@login_required
def revoke_token(request, token_id):
    token = get_object_or_404(
        ApiToken.objects.for_user(request.user).filter(user=request.user).live(), pk=token_id
    )
    services.revoke_token(actor=request.user, token=token, meta=RequestMeta.from_request(request))
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
