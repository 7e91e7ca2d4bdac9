"""Telling people about access requests: by e-mail, and on the tenant's Slack, Teams and
signed webhook channels.

`notify()` is the one function the access services call. It only enqueues, once the
caller's transaction commits: the background worker delivers (access/tasks.py), retries,
and records a channel that fails for good, so a request is never lost or held up because a
receiver is down or slow.
"""

from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.db import transaction

from access.models import NotificationChannel
from access.tasks import deliver_email, deliver_webhook
from access.webhooks import signing_key, validate_webhook_url
from accounts.models import Tenant, User
from core import humanize

__all__ = ["Words", "notify", "send_test_message", "signing_key", "validate_webhook_url"]

# A subject or text: as it is, or written for a time zone (times read in the reader's own,
# with UTC beside it; a shared channel reads UTC).
Words = str | Callable[[tzinfo], str]


def absolute(link: str) -> str:
    """A portal path ("/approvals/") as a link that works from a mail client or a chat."""
    if not link:
        return ""
    if not link.startswith("/"):
        raise ValueError(f"a link is a path on the portal, not {link!r}")
    return settings.PORTAL_ISSUER_URL.rstrip("/") + link


def notify(
    *,
    tenant: Tenant,
    event: str,
    people: Iterable[User],
    subject: Words,
    text: Words,
    link: str = "",
    request_id: int | None = None,
) -> None:
    """Tell `people` (by e-mail, each once, in their own time zone, else the tenant's) and
    the tenant's active channels (in the tenant's time zone) about `event`.

    The subject and text are sent as given, so callers build them from names, roles,
    reasons, times and links only: never a credential, a token or a console URL. Nothing is
    enqueued until the caller's transaction commits, and nothing at all if it rolls back.
    """

    def written(words: Words, zone: tzinfo) -> str:
        return words if isinstance(words, str) else words(zone)

    def message(zone: tzinfo) -> dict[str, Any]:
        return {
            "event": event,
            "tenant": tenant.slug,
            # One line: a line break in a mail header is refused, not sent.
            "subject": " ".join(written(subject, zone).split()),
            "text": written(text, zone),
            "link": absolute(link),
            "request_id": request_id,
        }

    by_address = {person.email.lower(): person for person in people if person.email}
    recipients = {person.pk: person for person in by_address.values()}
    # Each person's own zone, else the tenant's; a channel is read by the tenant's people.
    messages = {
        pk: message(humanize.zone_named(person.time_zone or tenant.time_zone))
        for pk, person in sorted(recipients.items())
    }
    shared = message(tenant.zone)

    def enqueue() -> None:
        for user_id, personal in messages.items():
            deliver_email.enqueue(user_id, tenant.pk, personal)
        channels = tenant.notification_channels.filter(active=True)
        for channel_id in channels.values_list("pk", flat=True):
            deliver_webhook.enqueue(channel_id, shared)

    # robust: the change is committed by then; a queue that cannot take the message is
    # logged, not turned into an error page for a change that happened.
    transaction.on_commit(enqueue, robust=True)


def send_test_message(channel: NotificationChannel) -> None:
    """Enqueue a test message to one channel (the admin's "Send a test message")."""
    message: dict[str, Any] = {
        "event": "notification.test",
        "tenant": channel.tenant.slug,
        "subject": "Test message from Portcullis",
        "text": f"This channel ({channel.name}) receives {channel.tenant}'s access notifications.",
        "link": absolute("/"),
        "request_id": None,
    }
    transaction.on_commit(lambda: deliver_webhook.enqueue(channel.pk, message), robust=True)
