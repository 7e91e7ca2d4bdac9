"""The pages of access on request: my roles with each on-request grant's state, asking for
access, my requests, and the approver's queue."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from access import selectors, services
from access.forms import DecisionForm, RequestForm
from access.models import JUSTIFICATION_MAX, AccessRequest, Decision
from accounts import mfa
from accounts.models import MIN_SESSION_SECONDS
from audit.records import RequestMeta
from core import humanize
from core.actions import post_only
from core.errors import InvalidChoice
from core.views import error_response
from federation import services as federation_services
from federation.models import account_names
from federation.services import GrantNotFound
from federation.views import offer_choices, roles_page

State = AccessRequest.State
# Where a button may send the person back to after it acted.
RETURN_TO = {"home", "requests", "approvals"}
# A comment typed on the approvals page while the person still had to confirm it is them:
# kept in the session, once, so it is in its box again when they come back.
HELD_COMMENT = "portcullis_held_comment"


def _back(request, default):
    name = request.POST.get("next", "")
    return redirect(name if name in RETURN_TO else default)


@login_required
@never_cache
def my_roles(request):
    """Roles granted to me, grouped by tenant and AWS account; an on-request grant shows
    "Request access", "Waiting for approval" or "Active until …" with its buttons."""
    user = request.user
    now = timezone.now()
    grants = list(federation_services.usable_grants(user))
    names = account_names(user) if grants else {}
    for grant in grants:
        grant.account_name = grant.account_name_in(names)
    every = len(grants)
    query = " ".join(request.GET.get("q", "").split())[:FILTER_MAX]
    only = request.GET.get("role", "")
    missing = False
    if only:
        # A link to one role (/console/<id>/ and /cli/<id>/ land here): that role alone.
        one = [g for g in grants if only.isdigit() and str(g.pk) == only]
        if one:
            grants = one
        else:
            # A bookmark to a role taken away, or to someone else's: one answer for both
            # (404), with the roles the person does have.
            messages.error(request, "That role is not yours, or no longer exists.")
            only, missing = "", True
    if query:
        grants = [g for g in grants if all(t in search_text(g) for t in query.casefold().split())]
    # Only people with an on-request grant have requests to look up.
    open_requests = (
        {r.grant_id: r for r in selectors.my_requests(user).open()}
        if any(grant.on_request for grant in grants)
        else {}
    )
    for grant in grants:
        search_text(grant)
        limit = federation_services.session_limit(grant)
        grant.access = None
        if grant.on_request:
            access = open_requests.get(grant.pk)
            if access and access.state == State.ACTIVE and access.ends_at <= now:
                access = None  # over; the clock records it
            grant.access = access
            if access is None:
                grant.request_form = RequestForm(grant=grant, auto_id=f"g{grant.pk}-%s")
                limit = 0
            elif access.state == State.ACTIVE:
                access.left = access.seconds_left(now)
                access.left_minutes = access.left // 60
                limit = min(limit, access.left)
            else:
                grant.approver_names = [
                    person.get_username() for person in grant.approver_people(besides=user)
                ]
                limit = 0
        if limit >= MIN_SESSION_SECONDS:  # the shortest session AWS issues
            offer_choices(grant, limit)
        else:
            grant.limit = 0
    response = roles_page(
        request,
        grants,
        query=query,
        only=bool(only),
        every=every,
        shown=len(grants),
        filtered=bool(query or only),
    )
    if missing:
        response.status_code = 404
    return response


FILTER_MAX = 100


def search_text(grant):
    """What "Find a role" looks in: the label, the role's name and account, the tenant."""
    if not hasattr(grant, "search_text"):
        words = [
            grant.label,
            grant.role.name,
            grant.role.account_id,
            grant.account_name,
            grant.tenant.name,
            grant.tenant.slug,
        ]
        grant.search_text = " ".join(w for w in words if w).casefold()
    return grant.search_text


@login_required
@never_cache
def request_access(request, grant_id):
    """Ask for a window on an on-request grant (GET shows the form, POST files it)."""
    grant = selectors.requestable_grant(request.user, grant_id)
    form = RequestForm(request.POST or None, grant=grant)
    if request.method != "POST":
        if grant is None:
            return error_response(request, GrantNotFound())
        return render(request, "access/request.html", {"grant": grant, "form": form})
    try:
        duration = int(request.POST.get("duration", "") or 0)
    except ValueError:
        duration = 0
    try:
        access = services.file_request(
            user=request.user,
            grant_id=grant_id,
            seconds=duration,
            justification=request.POST.get("justification", ""),
            ticket=request.POST.get("ticket", ""),
            break_glass=request.POST.get("break_glass") in {"on", "true", "1"},
            meta=RequestMeta.from_request(request),
        )
    except InvalidChoice as error:
        # Nothing typed is lost: the form comes back with the message.
        form.is_valid()
        form.add_error(None, error.message)
        return render(request, "access/request.html", {"grant": grant, "form": form}, status=400)
    if access.state == State.ACTIVE:
        messages.warning(
            request,
            f"Break-glass access to {grant.label} is open until {humanize.clock(access.ends_at)}. "
            "Your approvers have been told and will review it.",
        )
    else:
        approvers = grant.approver_people(besides=request.user)
        names = ", ".join(person.get_username() for person in approvers)
        messages.success(
            request, f"Asked for access to {grant.label}. Waiting for approval from {names}."
        )
    return redirect("home")


@login_required
@never_cache
def my_requests(request):
    requests = selectors.my_requests(request.user)[:200]
    return render(request, "access/my_requests.html", {"requests": requests, "now": timezone.now()})


@post_only(
    title="Cancel a request",
    does="This address cancels one of your requests for access: the Cancel button on "
    "My requests does it.",
    back="requests",
    back_label="My requests",
)
@login_required
def cancel(request, request_id):
    access = services.cancel(
        user=request.user, request_id=request_id, meta=RequestMeta.from_request(request)
    )
    messages.success(request, f"Request for {access.grant.label} cancelled.")
    return _back(request, "requests")


@post_only(
    title="End access now",
    does="This address ends a window of access before its time: the End now button on "
    "My roles, My requests or Approvals does it.",
    back="requests",
    back_label="My requests",
)
@login_required
def end(request, request_id):
    """End a window now: the requester's "I'm done", or an approver or admin taking it back."""
    access, outcome = services.end_window(
        user=request.user,
        request_id=request_id,
        reason=request.POST.get("reason", ""),
        meta=RequestMeta.from_request(request),
    )
    messages.success(request, f"Access to {access.grant.label} ended. {outcome}")
    return _back(request, "requests")


def _with_history(user, requests):
    """Each request with the requester's last requests for the same grant (the context an
    approver needs: how did their earlier asks end?)."""
    requests = list(requests)
    for access in requests:
        access.history = list(
            AccessRequest.objects.for_user(user)
            .filter(grant=access.grant_id, requester=access.requester_id)
            .exclude(pk=access.pk)[:5]
        )
    return requests


@login_required
@never_cache
def approvals(request):
    """What waits for my decision, with the approver's context; break-glass use to review;
    the windows I may end."""
    user = request.user
    waiting = _with_history(
        user,
        selectors.waiting_for(user).prefetch_related("decisions").order_by("created_at")[:100],
    )
    for access in waiting:
        access.approvals = [
            d.approver_username
            for d in access.decisions.all()
            if d.outcome == Decision.Outcome.APPROVE
        ]
    context = {
        "waiting": waiting,
        "reviews": _with_history(user, selectors.review_queue(user).order_by("activated_at")[:100]),
        "active": selectors.endable_by(user)
        .exclude(requester=user)
        .select_related("grant", "requester")
        .order_by("ends_at")[:100],
        "recent": selectors.decidable_by(user)
        .exclude(state=State.PENDING)
        .select_related("reviewed_by")
        .prefetch_related("decisions")
        .order_by("-created_at")[:20],
        "now": timezone.now(),
        "has_second_factor": mfa.has_second_factor(user),
        "held": request.session.pop(HELD_COMMENT, None),
    }
    return render(request, "access/approvals.html", context)


def _fit_to_decide(request, access_id, *, form):
    """Deciding needs a second factor and a recent sign-in, like issuing: a redirect to get
    them, or None when the person may go on. The comment typed into `form` ("decide" or
    "review") waits in the session for their return to the approvals page."""
    if not mfa.has_second_factor(request.user):
        messages.warning(request, "Set up a second factor before deciding requests.")
        detour = redirect("two-factor")
    elif not request.user.is_verified() or not mfa.recently_authenticated(request):
        messages.info(request, "Confirm it is you before deciding.")
        back = f"{reverse('approvals')}#{'approval' if form == 'decide' else 'review'}-{access_id}"
        detour = redirect(f"{reverse('reauthenticate')}?{urlencode({'next': back})}")
    else:
        return None
    comment = request.POST.get("comment", "")[:JUSTIFICATION_MAX]  # as DecisionForm takes it
    if comment.strip():
        request.session[HELD_COMMENT] = {"form": form, "request": access_id, "comment": comment}
    return detour


@post_only(
    title="Decide a request",
    does="This address approves or denies a request for access: the Approve and Deny "
    "buttons on Approvals do it.",
    back="approvals",
    back_label="Approvals",
)
@login_required
def decide(request, request_id):
    detour = _fit_to_decide(request, request_id, form="decide")
    if detour:
        return detour
    form = DecisionForm(request.POST)
    meta = RequestMeta.from_request(request)
    if not form.is_valid():
        raise InvalidChoice("Choose approve or deny; a comment is at most 1000 characters.")
    approve = form.cleaned_data["decision"] == "approve"
    access = services.decide(
        user=request.user,
        request_id=request_id,
        approve=approve,
        comment=form.cleaned_data["comment"],
        meta=meta,
    )
    who = access.requester.get_username()
    if not approve:
        messages.success(request, f"Denied {who}'s request for {access.grant.label}.")
    elif access.state == State.ACTIVE:
        messages.success(
            request,
            f"Approved: {who} has {access.grant.label} until {humanize.clock(access.ends_at)}.",
        )
    else:
        messages.success(
            request, f"Approved. {who}'s request still needs another approver's decision."
        )
    return redirect("approvals")


@post_only(
    title="Review break-glass use",
    does="This address marks a break-glass use reviewed: the Mark reviewed button on "
    "Approvals does it.",
    back="approvals",
    back_label="Approvals",
)
@login_required
def review(request, request_id):
    detour = _fit_to_decide(request, request_id, form="review")
    if detour:
        return detour
    access = services.review(
        user=request.user,
        request_id=request_id,
        comment=request.POST.get("comment", ""),
        meta=RequestMeta.from_request(request),
    )
    messages.success(request, f"Break-glass use by {access.requester.get_username()} reviewed.")
    return redirect("approvals")
