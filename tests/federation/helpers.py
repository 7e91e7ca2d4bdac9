import html
import re

import requests

from audit.models import AuditEvent


def open_console(client, grant, **choices):
    data = {"duration": "", "destination": "", "region": ""}
    data.update({k: str(v) for k, v in choices.items()})
    return client.post(f"/console/{grant.pk if hasattr(grant, 'pk') else grant}/", data)


def console_url(response):
    match = re.search(
        r'id="console-url" class="mono url" value="([^"]+)"', response.content.decode()
    )
    return html.unescape(match.group(1)) if match else None


def follow(url):
    """Open a console URL the way a browser would (it points at the loopback sandbox)."""
    return requests.get(url, timeout=10)


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
