"""The background worker's side of notifications: one task per e-mail and per webhook.

Tasks take ids and the message's plain fields, never a URL or an address: the person and
the channel are looked up when the task runs, so a channel deleted or switched off in the
meantime is dropped quietly, and its URL never sits in the task queue. A failed delivery is
enqueued again after NOTIFICATION_RETRY_SECONDS[attempt - 1]; once those delays are used
up, one `notification.failed` audit record says so (without the URL or the message).
"""

import logging
import smtplib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone
from django_tasks import task

from access.models import NotificationChannel
from access.webhooks import DeliveryFailed, send
from accounts.models import Tenant, User
from audit.models import AuditEvent
from audit.records import record

log = logging.getLogger(__name__)


@task()
def deliver_email(user_id: int, tenant_id: int, message: dict[str, Any], attempt: int = 1) -> None:
    """E-mail `message` to the person, at the address they have when it is sent."""
    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None or not person.email:
        return
    body = message["text"] + (f"\n\n{message['link']}" if message["link"] else "")
    email = EmailMessage(
        subject=message["subject"],
        body=body,
        to=[person.email],
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    try:
        email.send()
    except Exception as error:  # smtplib's errors are OSErrors; anything else fails too
        _failed(
            deliver_email,
            (user_id, tenant_id, message),
            attempt,
            tenant_id=tenant_id,
            channel=f"e-mail to {person.username}",
            reason=_smtp_reason(error),
        )


@task()
def deliver_webhook(channel_id: int, message: dict[str, Any], attempt: int = 1) -> None:
    """POST `message` to the channel, if it still exists and is switched on."""
    channel = (
        NotificationChannel.objects.unscoped("the worker delivers for every tenant")
        .filter(pk=channel_id, active=True)
        .first()
    )
    if channel is None:
        return
    try:
        send(channel, message)
    except Exception as error:  # whatever goes wrong is retried, then recorded
        _failed(
            deliver_webhook,
            (channel_id, message),
            attempt,
            tenant_id=channel.tenant_id,
            channel=f"{channel.get_kind_display()} {channel.name!r}",
            reason=str(error) if isinstance(error, DeliveryFailed) else type(error).__name__,
        )


def _smtp_reason(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"SMTP {error.smtp_code}"
    return f"could not send ({type(error).__name__})"


def _failed(
    retry: Any, args: tuple, attempt: int, *, tenant_id: int, channel: str, reason: str
) -> None:
    """Try again after the next delay, or record that delivery failed for good."""
    delays = settings.NOTIFICATION_RETRY_SECONDS
    log.warning(
        "notification not delivered",
        extra={"channel": channel, "reason": reason, "attempt": attempt},
    )
    if attempt <= len(delays):
        run_after = timezone.now() + timedelta(seconds=delays[attempt - 1])
        retry.using(run_after=run_after).enqueue(*args, attempt=attempt + 1)
        return
    attempts = f"{attempt} attempt" + ("" if attempt == 1 else "s")
    record(
        AuditEvent.Action.NOTIFICATION_FAILED,
        tenant=Tenant.objects.unscoped("the channel's tenant").filter(pk=tenant_id).first(),
        detail=f"{channel}: {reason} after {attempts}",
    )


@task()
def heartbeat() -> None:
    """Nothing but a sign of life: the worker ran a task (access.worker reads when)."""
