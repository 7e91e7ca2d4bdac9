"""What people are told about a request: its headline and summary, and what the requester hears
of its fate.
"""

from access import notifications
from access.models import AccessRequest
from core import humanize


def headline(request: AccessRequest) -> str:
    """ "bob for Production": plain words, so a mail subject stays readable everywhere."""
    return f"{request.requester.get_username()} for {request.grant.label}"


def summary(request: AccessRequest) -> str:
    lines = [
        f"Role: {request.grant.label} ({request.grant.role_arn})",
        f"Tenant: {request.tenant.name}",
        f"Window: {humanize.duration(request.seconds)}",
        f"Reason: {request.justification}",
    ]
    if request.ticket:
        lines.append(f"Ticket: {request.ticket}")
    return "\n".join(lines)


def tell_requester(
    request: AccessRequest,
    *,
    event: str,
    subject: notifications.Words,
    text: notifications.Words,
    link: str,
) -> None:
    notifications.notify(
        tenant=request.tenant,
        event=event,
        people=[request.requester],
        subject=subject,
        text=text,
        link=link,
        request_id=request.pk,
    )
