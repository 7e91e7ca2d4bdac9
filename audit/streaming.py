"""Streaming the audit trail to a SIEM: what each kind of sink receives, and the one exchange
that hands it a batch of records.

Every record travels as one JSON object holding every field of the record, its tenant's
slug, and the chain's sequence number, hash and previous hash. The sequence number is the
record's identity: a batch sent again after a crash carries the same records with the same
numbers, so a receiver drops what it has already seen.

- Splunk HTTP Event Collector: the batch is one POST of concatenated HEC events
  (`{"time": …, "host": …, "source": "portcullis", "sourcetype": "portcullis:audit",
  "event": {record}}`), `Authorization: Splunk <token>`. Taken when HEC answers 2xx.
- HTTPS: one POST of NDJSON (`application/x-ndjson`, one record per line, oldest first),
  `Authorization: Bearer <token>` when the sink has one. Taken when it answers 2xx.
- Syslog over TLS (RFC 5425): one RFC 5424 message per record, framed by octet counting
  (RFC 6587 3.4.1), MSGID the action, structured data with the sequence number and hashes,
  the record as JSON in MSG. Syslog has no acknowledgement of its own: the batch counts as
  taken once it is written and the receiver has answered the TLS close (close_notify, which
  RFC 5425 4.4 requires of it). The receiver has then read every byte before its answer;
  a receiver that goes away instead gets the whole batch again.

Nothing here reads the database (a sink is anything with `kind`, `destination`,
`ca_certificate`, `allows_private_addresses` and `token()`), so the model can check its
destination with it and the worker can send with it. Errors are short reasons, never a
URL or a token.
"""

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.views.decorators.debug import sensitive_variables

from core import humanize, outbound

SPLUNK_SOURCETYPE = "portcullis:audit"
SPLUNK_PATH = "/services/collector/event"
# The port RFC 5425 assigns to syslog over TLS.
SYSLOG_PORT = 6514
# RFC 5424: facility 13 ("log audit"), severity 6 (informational).
SYSLOG_PRI = 13 * 8 + 6
# A structured-data ID names an enterprise number; 32473 is the one RFC 5612 reserves for
# documentation and examples (Portcullis has none of its own).
SYSLOG_SD_ID = "portcullis@32473"


class Kind(models.TextChoices):
    SPLUNK_HEC = "splunk_hec", "Splunk HTTP Event Collector"
    HTTPS_JSON = "https_json", "HTTPS endpoint (NDJSON)"
    SYSLOG_TLS = "syslog_tls", "Syslog over TLS (RFC 5425)"


class Sink(Protocol):
    kind: str
    destination: str
    ca_certificate: str

    @property
    def allows_private_addresses(self) -> bool: ...

    def token(self) -> str: ...


class DeliveryFailed(Exception):
    """The receiver did not take the batch; the text is a short reason, never the URL."""


# --- where a sink may point ------------------------------------------------------------------


def syslog_host_port(destination: str) -> tuple[str, int]:
    """("siem.example.com", 6514) from "siem.example.com:6514", "siem.example.com" or
    "[2001:db8::1]:6514" (raises ValidationError)."""
    parts = urlsplit(f"//{destination.strip()}")
    try:
        port = parts.port or SYSLOG_PORT
    except ValueError:
        raise ValidationError("The port must be a number from 1 to 65535.") from None
    if parts.path or parts.query or parts.fragment or parts.username or not parts.hostname:
        raise ValidationError("Give the receiver as host:port, e.g. siem.example.com:6514.")
    return parts.hostname, port


def check_destination(kind: str, destination: str, *, allow_private: bool) -> list[str]:
    """The addresses the destination's host resolves to, each allowed by core.outbound's
    rules: https only and public hosts only, unless `allow_private` (raises
    ValidationError)."""
    if kind == Kind.SYSLOG_TLS:
        host, port = syslog_host_port(destination)
        if ":" in host:
            host = f"[{host}]"
        # The same rules as for a URL: syslog over TLS is as https is.
        return outbound.allowed_addresses(f"https://{host}:{port}/", allow_private=allow_private)
    return outbound.allowed_addresses(destination, allow_private=allow_private)


def check_ca_certificate(pem: str) -> None:
    try:
        x509.load_pem_x509_certificates(pem.strip().encode())
    except ValueError:
        raise ValidationError("Paste one or more certificates in PEM form.") from None


def shown(kind: str, destination: str) -> str:
    """The destination as records and pages show it: its host, never its path, query or
    user part, where some collectors take their key (Sumo Logic's and Loggly's URLs end in
    one)."""
    if kind == Kind.SYSLOG_TLS:
        return destination.strip()
    parts = urlsplit(destination)
    path = "/…" if parts.path.strip("/") else ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{path}"


# --- what a receiver gets ----------------------------------------------------------------------


def as_json(event: Any) -> dict[str, Any]:
    """Every field of the record (its tenant's slug besides its id), the chain's first."""
    content: dict[str, Any] = {
        "sequence": event.sequence,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
        "key_id": event.key_id,
        "created_at": humanize.utc_stamp(event.created_at),
        "tenant": event.tenant.slug if event.tenant_id is not None else None,
    }
    for field in event._meta.concrete_fields:
        if field.attname not in content:
            content[field.attname] = getattr(event, field.attname)
    if content["client_ip"]:
        content["client_ip"] = str(ipaddress.ip_address(content["client_ip"]))
    return content


def _dumps(content: Any) -> str:
    # ASCII only: the same bytes whichever receiver, and no byte-order mark for syslog.
    return json.dumps(content, separators=(",", ":"))


def portal_host() -> str:
    """The portal's host name, as the `host` of Splunk events and syslog's HOSTNAME."""
    return urlsplit(settings.PORTAL_ISSUER_URL).hostname or "-"


def splunk_body(events: Iterable[Any]) -> bytes:
    host = portal_host()
    return "\n".join(
        _dumps(
            {
                "time": round(event.created_at.timestamp(), 6),
                "host": host,
                "source": "portcullis",
                "sourcetype": SPLUNK_SOURCETYPE,
                "event": as_json(event),
            }
        )
        for event in events
    ).encode()


def ndjson_body(events: Iterable[Any]) -> bytes:
    return b"".join(_dumps(as_json(event)).encode() + b"\n" for event in events)


def _sd_value(value: Any) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped in a PARAM-VALUE.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(text: str, length: int) -> str:
    """A header field: printable US-ASCII, no spaces, at most `length` characters."""
    cleaned = "".join(c for c in text if "!" <= c <= "~")[:length]
    return cleaned or "-"


def syslog_message(event: Any, host: str) -> bytes:
    content = as_json(event)
    params = {
        "sequence": event.sequence,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
        "tenant": content["tenant"] or "",
    }
    data = " ".join(f'{name}="{_sd_value(value)}"' for name, value in params.items())
    header = " ".join(
        [
            f"<{SYSLOG_PRI}>1",
            humanize.utc_stamp(event.created_at),
            _printable(host, 255),
            "portcullis",
            "-",
            _printable(event.action, 32),
        ]
    )
    return f"{header} [{SYSLOG_SD_ID} {data}] {_dumps(content)}".encode()


def syslog_frames(events: Iterable[Any]) -> bytes:
    """RFC 6587 octet counting: each message preceded by its length in bytes and a space."""
    host = portal_host()
    frames = []
    for event in events:
        message = syslog_message(event, host)
        frames.append(b"%d %s" % (len(message), message))
    return b"".join(frames)


# --- sending -----------------------------------------------------------------------------------


@sensitive_variables("headers", "token")
def send(sink: Sink, events: Sequence[Any]) -> None:
    """Hand `events` (oldest first) to the sink in one exchange, bounded by
    AUDIT_SINK_TIMEOUT_SECONDS. Returns once the receiver has taken them; raises
    DeliveryFailed otherwise."""
    try:
        # Again at delivery: the name may resolve elsewhere since the sink was saved.
        addresses = check_destination(
            sink.kind, sink.destination, allow_private=sink.allows_private_addresses
        )
    except ValidationError:
        raise DeliveryFailed("address not allowed") from None
    timeout = settings.AUDIT_SINK_TIMEOUT_SECONDS
    if sink.kind == Kind.SYSLOG_TLS:
        _send_syslog(sink, addresses, syslog_frames(events), timeout)
        return
    url, headers = sink.destination, {"Content-Type": "application/x-ndjson"}
    if sink.kind == Kind.SPLUNK_HEC:
        body = splunk_body(events)
        headers = {"Content-Type": "application/json", "Authorization": f"Splunk {sink.token()}"}
        if urlsplit(url).path in {"", "/"}:
            url = url.rstrip("/") + SPLUNK_PATH
    else:
        body = ndjson_body(events)
        if token := sink.token():
            headers["Authorization"] = f"Bearer {token}"
    try:
        answer = outbound.send(
            "POST",
            url,
            addresses=addresses,
            headers=headers,
            body=body,
            timeout=timeout,
            ca_certificates=sink.ca_certificate,
        )
    except outbound.RequestFailed as error:
        raise DeliveryFailed(str(error)) from None
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status}")


def tls_context(ca_certificate: str) -> ssl.SSLContext:
    """Certificates checked against the sink's own CA when it has one, else the public
    authorities; the host name checked either way; TLS 1.2 at least (RFC 9662)."""
    if ca_certificate:
        context = ssl.create_default_context(cadata=ca_certificate)
    else:
        context = ssl.create_default_context(cafile=outbound.CA_BUNDLE)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _send_syslog(sink: Sink, addresses: list[str], payload: bytes, timeout: float) -> None:
    host, port = syslog_host_port(sink.destination)
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    try:
        with socket.create_connection((addresses[0], port), timeout=remaining()) as raw:
            tls = tls_context(sink.ca_certificate).wrap_socket(
                raw, server_hostname=host, do_handshake_on_connect=False
            )
            tls.settimeout(remaining())
            tls.do_handshake()
            view = memoryview(payload)
            while view:
                tls.settimeout(remaining())
                view = view[tls.send(view[:65536]) :]
            # Our close_notify, then the receiver's: it has read everything before it.
            tls.settimeout(remaining())
            tls.unwrap()
    except ConnectionRefusedError:
        raise DeliveryFailed("connection refused") from None
    except TimeoutError:
        raise DeliveryFailed("timed out") from None
    except ssl.SSLCertVerificationError:
        raise DeliveryFailed("certificate not trusted") from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        raise DeliveryFailed("connection closed before the receiver confirmed") from None
    except ssl.SSLError:
        raise DeliveryFailed("TLS failed") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise DeliveryFailed("connection lost") from None
    except OSError:
        raise DeliveryFailed("could not connect") from None
