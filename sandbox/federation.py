"""The console federation endpoint: getSigninToken and the sign-out-first wrapper."""

import json
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from sandbox.state import SESSION_KEYS, SigninToken, now


class FederationMixin:
    """`/federation?Action=getSigninToken` only for live sessions this sandbox issued, a
    Session JSON with exactly the three keys, a SessionDuration of 900-43200 and none for
    chained sessions; `/oauth?Action=logout`."""

    @staticmethod
    def _refuse(message, status=400):
        return Response(f"{message}\n", status=status, content_type="text/plain")

    def federation(self, request):
        action = request.values.get("Action")
        if action == "getSigninToken":
            return self.get_signin_token(request)
        if action == "login":
            return self.login(request)
        return self._refuse("Unknown or missing Action.")

    def get_signin_token(self, request):
        try:
            session_json = json.loads(request.values.get("Session", ""))
        except ValueError:
            return self._refuse("Session is not valid JSON.")
        if not isinstance(session_json, dict) or set(session_json) != SESSION_KEYS:
            return self._refuse("Session must hold exactly sessionId, sessionKey and sessionToken.")
        with self.lock:
            session = self.sessions.get(session_json["sessionId"])
        if (
            session is None
            or not secrets.compare_digest(
                str(session_json["sessionKey"]), session.secret_access_key
            )
            or not secrets.compare_digest(str(session_json["sessionToken"]), session.session_token)
            or session.expiration <= now()
        ):
            return self._refuse("The credentials do not belong to a live role session.", 400)
        console_expires_at = session.expiration
        duration = request.values.get("SessionDuration")
        if duration is not None:
            if session.chained:
                return self._refuse(
                    "SessionDuration is not allowed for sessions created by role chaining."
                )
            if not duration.isdigit() or not 900 <= int(duration) <= 43200:
                return self._refuse("SessionDuration must be between 900 and 43200 seconds.")
            console_expires_at = now() + timedelta(seconds=int(duration))
        token = secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = SigninToken(session, now(), console_expires_at)
        return Response(json.dumps({"SigninToken": token}), content_type="application/json")

    def logout(self, request):
        target = request.args.get("redirect_uri", "")
        parts = urlsplit(target)
        if (
            request.args.get("Action") != "logout"
            or parts.netloc != request.host
            or (parts.path != "/federation")
        ):
            return self._refuse("redirect_uri must be this sign-in endpoint.")
        return Response("", status=302, headers={"Location": target})
