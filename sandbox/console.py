"""`Action=login`: the "sandbox console" page, which stands in for the AWS console."""

import html
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from federation.aws import is_console_url
from sandbox.iam import denied_by_inline_policies
from sandbox.state import SIGNIN_TOKEN_LIFETIME, now

# The portal's look (its stylesheet's colours and type), dark mode included.
STYLE = """
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; --card: #fff;
  --header: #1b1f24; --accent: #0b5cad; color-scheme: light dark;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
@media (prefers-color-scheme: dark) { :root { --ink: #e6edf3; --muted: #9da7b3;
  --line: #3d444d; --bg: #0d1117; --card: #161b22; --header: #010409; --accent: #4493f8; } }
body { margin: 0; line-height: 1.5; }
header { background: var(--header); color: #fff; padding: .75rem 1.5rem; font-weight: 700; }
main { max-width: 48rem; margin: 1.5rem auto; padding: 1.25rem 1.5rem; background: var(--card);
  border: 1px solid var(--line); border-radius: 8px; }
h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace;
  overflow-wrap: anywhere; }
a { color: var(--accent); }
"""


class ConsoleMixin:
    """A sign-in token at most 15 minutes old and a Destination on the partition's console
    domain open a page naming the session; a session the role's inline policies deny
    everything (AWSRevokeOlderSessions, or a PortcullisEndedAccess statement for its
    SourceIdentity) is refused, as the AWS console refuses it."""

    def login(self, request):
        with self.lock:
            signin = self.tokens.get(request.values.get("SigninToken", ""))
        if signin is None or signin.issued_at + SIGNIN_TOKEN_LIFETIME <= now():
            return self._refuse("The sign-in token is unknown or older than 15 minutes.")
        destination = request.values.get("Destination", "")
        if not is_console_url(destination, signin.session.partition):
            return self._refuse("Destination is not on this partition's AWS console.")
        issuer = request.values.get("Issuer", "")
        session = signin.session
        denied = denied_by_inline_policies(
            session.role_arn, session.source_identity, session.issued_at
        )
        if denied:
            return self._refuse(f"Access denied: {denied}", status=403)
        expires = (
            min(signin.console_expires_at, session.expiration)
            if session.chained
            else (signin.console_expires_at)
        )
        back = ""
        if urlsplit(issuer).scheme in {"http", "https"}:
            back = f'<p><a href="{html.escape(issuer)}">Back to the portal</a></p>'
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox AWS console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body>
<header>Sandbox AWS console</header>
<main>
<h1>Signed in to the sandbox</h1>
<p>This is the <strong>sandbox</strong> AWS console: no real AWS account is involved.</p>
<dl>
<dt>Assumed role</dt><dd id="assumed-role">{html.escape(session.assumed_role_arn)}</dd>
<dt>Role</dt><dd id="role">{html.escape(session.role_arn)}</dd>
<dt>Session name</dt><dd id="session-name">{html.escape(session.session_name)}</dd>
<dt>Source identity</dt><dd id="source-identity">{html.escape(session.source_identity or "-")}</dd>
<dt>Session expires</dt><dd id="expires">{expires:%Y-%m-%d %H:%M:%S} UTC</dd>
<dt>Destination</dt><dd id="destination">{html.escape(destination)}</dd>
</dl>
{back}
</main>
</body></html>
"""
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
