from django.utils.functional import SimpleLazyObject

from access import selectors


def approvals_waiting(request):
    """The navigation's Approvals link (for approvers and tenant admins) and its badge: how
    many requests wait for this person's decision or review. Lazy: pages that show no navigation (an
    error page, a sign-in page) ask nothing."""

    def signed_in():
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def waiting():
        user = signed_in()
        if not user:
            return 0
        # Decisions and break-glass reviews alike wait for this person.
        return selectors.waiting_for(user).count() + selectors.review_queue(user).count()

    def approver():
        user = signed_in()
        return bool(user and selectors.approves_anything(user))

    return {
        "approvals_waiting": SimpleLazyObject(waiting),
        "is_approver": SimpleLazyObject(approver),
    }
