"""Webhooks: which URLs a channel may point at, the signed webhook's key, the body each kind
of receiver expects, and the one POST.

Nothing here reads the database (a channel is anything with `kind`, `url` and
`signing_salt`), so the model can validate its URL with it and the worker can send with it.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import salted_hmac

# The addresses a receiver may not have (server-side request forgery): the portal's own
# host, the company network, the cloud metadata service and addresses that are no host.
FORBIDDEN = (
    "is_loopback",
    "is_private",
    "is_link_local",
    "is_reserved",
    "is_multicast",
    "is_unspecified",
)


# The certificate authorities a receiver's certificate is checked against.
CA_BUNDLE = certifi.where()


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
    allow_private = settings.NOTIFICATION_ALLOW_PRIVATE_URLS
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("Enter a valid URL.") from None
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise ValidationError("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("The URL must not carry a user name or password.")
    if not parts.hostname:
        raise ValidationError("The URL must name a host.")
    try:
        resolved = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ValidationError(f"{parts.hostname} does not resolve.") from None
    addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in resolved))
    if allow_private:
        return addresses
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(getattr(address, flag) for flag in FORBIDDEN) or not address.is_global:
            raise ValidationError(
                f"{parts.hostname} is a loopback, private or link-local address: "
                "the portal sends only to public receivers."
            )
    return addresses


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


def teams_payload(message: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message["subject"], "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": message["text"], "wrap": True},
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
    headers = {"Content-Type": "application/json", "User-Agent": "Portcullis"}
    if channel.kind == "webhook":
        timestamp = str(int(time.time()))
        headers["X-Portcullis-Timestamp"] = timestamp
        headers["X-Portcullis-Signature"] = sign(signing_key(channel), timestamp, body)
    status = _post_to(addresses[0], channel.url, body.encode(), headers)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")


def _post_to(address: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to the address that was checked, not to whatever the name resolves to a moment
    later (DNS rebinding): TLS still verifies the certificate against the URL's host name.
    No proxy, no ~/.netrc, no redirects, bounded by NOTIFICATION_TIMEOUT_SECONDS."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    timeout = urllib3.Timeout(
        connect=settings.NOTIFICATION_TIMEOUT_SECONDS, read=settings.NOTIFICATION_TIMEOUT_SECONDS
    )
    pool: urllib3.HTTPConnectionPool
    if https:
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=CA_BUNDLE,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen(
            "POST", target, body=body, headers={**headers, "Host": parts.netloc}, redirect=False
        )
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise DeliveryFailed("timed out") from None
    except urllib3.exceptions.SSLError:
        raise DeliveryFailed("TLS failed") from None
    except urllib3.exceptions.NewConnectionError as error:
        refused = "refused" in str(error).lower()
        raise DeliveryFailed("connection refused" if refused else "could not connect") from None
    except urllib3.exceptions.HTTPError:
        raise DeliveryFailed("request failed") from None
    finally:
        pool.close()
    return response.status
