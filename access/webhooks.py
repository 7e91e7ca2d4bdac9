"""Webhooks: which URLs a channel may point at, the signed webhook's key, the body each kind
of receiver expects, and the one POST.

Nothing here reads the database (a channel is anything with `kind`, `url` and
`signing_salt`), so the model can validate its URL with it and the worker can send with it.
"""

import hashlib
import hmac
import json
import time
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core import outbound


class Channel(Protocol):
    kind: str
    url: str
    signing_salt: str


class DeliveryFailed(Exception):
    """A receiver did not take the message; the text is a short reason, never the URL."""


def validate_webhook_url(url: str) -> None:
    """Refuse a URL that is not https, carries credentials, does not resolve, or resolves
    to an address that is not a public host. NOTIFICATION_ALLOW_PRIVATE_URLS allows http
    and private addresses, for a receiver inside the company network."""
    allowed_addresses(url)


def allowed_addresses(url: str) -> list[str]:
    """The addresses the URL's host resolves to, each checked as validate_webhook_url says
    (raises ValidationError)."""
    return outbound.allowed_addresses(url, allow_private=settings.NOTIFICATION_ALLOW_PRIVATE_URLS)


def signing_key(channel: Channel) -> bytes:
    """The signed webhook's HMAC key: derived from SECRET_KEY and the channel's salt, never
    stored (a new salt, or a new SECRET_KEY, is a new key)."""
    return salted_hmac(
        "portcullis.notifications.webhook",
        channel.signing_salt,
        secret=settings.SECRET_KEY,
        algorithm="sha256",
    ).digest()


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>): names and reasons are text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: dict[str, Any]) -> dict[str, Any]:
    lines = [f"*{_slack_escape(message['subject'])}*", _slack_escape(message["text"])]
    if message["link"]:
        lines.append(f"<{message['link']}|Open in Portcullis>")
    return {"text": "\n".join(lines)}


def _teams_text(text: str, **style: str) -> dict[str, Any]:
    # A TextBlock reads its text as Markdown, so a reason such as "[Approve](https://…)"
    # would show as a link the portal seems to vouch for. A TextRun inside a RichTextBlock
    # is plain text ("Markdown is not supported", Adaptive Cards schema 1.2+): what people
    # wrote arrives exactly as they wrote it.
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def teams_payload(message: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            _teams_text(message["subject"], weight="Bolder"),
            _teams_text(message["text"]),
        ],
    }
    if message["link"]:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": message["link"]}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def webhook_payload(message: dict[str, Any]) -> dict[str, Any]:
    fields = ("event", "tenant", "subject", "text", "link", "request_id")
    return {
        **{name: message.get(name) for name in fields},
        "sent_at": timezone.now().isoformat(),
    }


PAYLOADS = {"slack": slack_payload, "teams": teams_payload, "webhook": webhook_payload}


def sign(key: bytes, timestamp: str, body: str) -> str:
    """The X-Portcullis-Signature header's value for this body sent at `timestamp`."""
    digest = hmac.new(key, f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send(channel: Channel, message: dict[str, Any]) -> None:
    """POST `message` to the channel in its kind's shape. Raises DeliveryFailed."""
    try:
        # Again at delivery: the name may resolve elsewhere since the channel was saved.
        addresses = allowed_addresses(channel.url)
    except ValidationError:
        raise DeliveryFailed("address not allowed") from None
    body = json.dumps(PAYLOADS[channel.kind](message))
    headers = {"Content-Type": "application/json"}
    if channel.kind == "webhook":
        timestamp = str(int(time.time()))
        headers["X-Portcullis-Timestamp"] = timestamp
        headers["X-Portcullis-Signature"] = sign(signing_key(channel), timestamp, body)
    try:
        answer = outbound.send(
            "POST",
            channel.url,
            addresses=addresses,
            headers=headers,
            body=body.encode(),
            timeout=settings.NOTIFICATION_TIMEOUT_SECONDS,
        )
    except outbound.RequestFailed as error:
        raise DeliveryFailed(str(error)) from None
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status}")
