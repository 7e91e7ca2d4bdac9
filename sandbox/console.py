"""`Action=login`: the "sandbox console" page, which stands in for the AWS console."""

import html
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from federation.aws import is_console_url
from sandbox.iam import denied_by_inline_policies
from sandbox.state import SIGNIN_TOKEN_LIFETIME, now


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
<html lang="en"><head><meta charset="utf-8"><title>Sandbox AWS console</title></head>
<body>
<h1>Sandbox AWS console</h1>
<p>You are signed in to the <strong>sandbox</strong> AWS console:
no real AWS account is involved.</p>
<dl>
<dt>Assumed role</dt><dd id="assumed-role">{html.escape(session.assumed_role_arn)}</dd>
<dt>Role</dt><dd id="role">{html.escape(session.role_arn)}</dd>
<dt>Session name</dt><dd id="session-name">{html.escape(session.session_name)}</dd>
<dt>Source identity</dt><dd id="source-identity">{html.escape(session.source_identity or "-")}</dd>
<dt>Session expires</dt><dd id="expires">{expires:%Y-%m-%d %H:%M:%S} UTC</dd>
<dt>Destination</dt><dd id="destination">{html.escape(destination)}</dd>
</dl>
{back}
</body></html>
"""
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
