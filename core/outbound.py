"""Requests the portal makes to URLs its tenants chose (webhook receivers, identity
providers): only to the hosts they name, never to the portal's own network by surprise.

A URL is checked before each request: https only, no credentials in it, and every address
its host resolves to a public one (server-side request forgery: the portal's own host, the
company network, the cloud metadata service). The request then goes to the address that
was checked, not to whatever the name resolves to a moment later (DNS rebinding), with TLS
still verifying the certificate against the URL's host name. No proxy, no ~/.netrc, no
redirects, a bounded time and a bounded answer.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.core.exceptions import ValidationError

# The addresses a tenant's URL may not have.
FORBIDDEN = (
    "is_loopback",
    "is_private",
    "is_link_local",
    "is_reserved",
    "is_multicast",
    "is_unspecified",
)

# The certificate authorities a host's certificate is checked against.
CA_BUNDLE = certifi.where()

# More than any webhook answer, discovery document or key set needs.
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class RequestFailed(Exception):
    """The host did not answer usefully; the text is a short reason, never the URL."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _and_embedded(text: str) -> list[IPAddress]:
    """The address, and every IPv4 address an IPv6 one carries and reaches through a
    transition mechanism: IPv4-mapped (::ffff:127.0.0.1), 6to4 (2002:7f00:1:: is
    127.0.0.1) and Teredo (its server and its client). Each must be a public host."""
    address = ipaddress.ip_address(text.split("%")[0])
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    return [address, *(inner for inner in embedded if inner is not None)]


def _public(address: IPAddress) -> bool:
    return address.is_global and not any(getattr(address, flag) for flag in FORBIDDEN)


def _is_loopback(text: str) -> bool:
    return ipaddress.ip_address(text.split("%")[0]).is_loopback


def allowed_addresses(
    url: str,
    *,
    allow_private: bool,
    allow_http: bool | None = None,
    allow_loopback_http: bool = False,
) -> list[str]:
    """The addresses the URL's host resolves to, each checked (raises ValidationError).

    `allow_private`: private addresses are allowed (a host inside the company network);
    `allow_http`: plain http too (default: as `allow_private`). `allow_loopback_http`: http
    to this machine is allowed (development and tests).
    """
    if allow_http is None:
        allow_http = allow_private
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("Enter a valid URL.") from None
    if parts.scheme not in {"https", "http"}:
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
    if allow_loopback_http and all(_is_loopback(text) for text in addresses):
        return addresses
    if parts.scheme != "https" and not allow_http:
        raise ValidationError("The URL must start with https://.")
    if allow_private:
        return addresses
    for text in addresses:
        if not all(_public(address) for address in _and_embedded(text)):
            raise ValidationError(
                f"{parts.hostname} is a loopback, private or link-local address: "
                "the portal sends only to public hosts."
            )
    return addresses


def send(
    method: str,
    url: str,
    *,
    addresses: list[str],
    headers: dict[str, str],
    body: bytes | None = None,
    timeout: float,
    ca_certificates: str = "",
) -> Answer:
    """One request to the first checked address (see the module's docstring), answered in
    full within `timeout` seconds (a host that trickles its answer is cut off).

    `ca_certificates`: PEM certificates to check the host's certificate against instead of
    the public authorities (a host with a certificate from a company's own CA).

    Raises RequestFailed when the host cannot be reached, is too slow, or answers more
    than MAX_ANSWER_BYTES.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    pool: urllib3.HTTPConnectionPool
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if https:
        pool = urllib3.HTTPSConnectionPool(
            addresses[0],
            port,
            timeout=limits,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=None if ca_certificates else CA_BUNDLE,
            ca_cert_data=ca_certificates or None,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
        )
    else:
        pool = urllib3.HTTPConnectionPool(addresses[0], port, timeout=limits, retries=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen(
            method,
            target,
            body=body,
            headers={"User-Agent": "Portcullis", **headers, "Host": parts.netloc},
            redirect=False,
            preload_content=False,
        )
        chunks, size = [], 0
        while size <= MAX_ANSWER_BYTES:
            if time.monotonic() > deadline:
                raise RequestFailed("timed out")
            chunk = response.read1(16384)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        response.release_conn()
    except urllib3.exceptions.NewConnectionError as error:
        # Before the timeouts: urllib3 makes it a kind of ConnectTimeoutError (a connection
        # that times out raises ConnectTimeoutError itself).
        refused = "refused" in str(error).lower()
        raise RequestFailed("connection refused" if refused else "could not connect") from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise RequestFailed("timed out") from None
    except urllib3.exceptions.SSLError:
        raise RequestFailed("TLS failed") from None
    except urllib3.exceptions.HTTPError:
        raise RequestFailed("request failed") from None
    finally:
        pool.close()
    if len(data) > MAX_ANSWER_BYTES:
        raise RequestFailed("answer too large")
    return Answer(status=response.status, body=data)
