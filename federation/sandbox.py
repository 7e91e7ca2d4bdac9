"""The sandbox AWS: a local stand-in for STS, IAM and the console federation endpoint.

`python -m federation.sandbox` serves, on one loopback port:

- STS and IAM from moto (server mode), with AssumeRole checked the way AWS checks it
  before moto sees it: the RoleSessionName, DurationSeconds, ExternalId, SourceIdentity,
  tag and session-policy rules; that the role exists; that its trust policy lets the
  caller assume it with this ExternalId (and set SourceIdentity and tags); the role's
  MaxSessionDuration; and the one-hour cap on role chaining. moto alone checks none of it.
- `/federation`, the console sign-in endpoint: `Action=getSigninToken` accepts only
  credentials of a live session this sandbox issued, a Session JSON with exactly the
  three keys, a SessionDuration of 900-43200 and none for chained sessions;
  `Action=login` accepts a sign-in token at most 15 minutes old and a Destination on the
  partition's console domain, and shows a "sandbox console" page naming the session.
- `/oauth?Action=logout`, the sign-out-first wrapper, which returns to the login URL.
- `/_sandbox/faults`, to make STS or the federation endpoint misbehave on purpose (a JSON
  POST from this machine only).

It is safe to leave running on a laptop: it listens on loopback only, answers only to a
loopback Host (no DNS rebinding), refuses every request a web page could send it from
another origin (no CORS: preflights and cross-origin requests get 403, and moto's own
CORS headers are removed), and does not serve moto's state-changing `/moto-api/`.

Nothing in the portal differs between this and real AWS except the endpoints.
"""

import argparse
import collections
import contextlib
import functools
import html
import io
import json
import re
import secrets
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server
from werkzeug.test import run_wsgi_app
from werkzeug.wrappers import Request, Response

from federation.aws import CHAINED_SESSION_LIMIT, RoleArn, is_console_url, partition_of_region

NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
SIGNIN_TOKEN_LIFETIME = timedelta(minutes=15)
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SESSION_KEYS = {"sessionId", "sessionKey", "sessionToken"}


@dataclass
class RoleSession:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    role_arn: str
    assumed_role_arn: str
    session_name: str
    source_identity: str
    chained: bool
    partition: str
    issued_at: datetime = field(default_factory=lambda: now())


@dataclass
class SigninToken:
    session: RoleSession
    issued_at: datetime
    console_expires_at: datetime


class AwsFault(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now():
    return datetime.now(UTC)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(patterns, action):
    for pattern in _as_list(patterns):
        regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*") + "$"
        if re.match(regex, action.lower()):
            return True
    return False


def _principal_matches(principal, candidates):
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(p == "*" or p in candidates for p in _as_list(principal.get("AWS")))
    return False


def _conditions_hold(conditions, context):
    """StringEquals / StringLike on request keys; an operator or key it cannot judge fails."""
    for operator, clauses in (conditions or {}).items():
        if operator not in {"StringEquals", "StringLike"}:
            return False
        for key, expected in clauses.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            options = _as_list(expected)
            if operator == "StringEquals" and actual not in options:
                return False
            if operator == "StringLike" and not any(
                re.fullmatch(re.escape(o).replace(r"\*", ".*").replace(r"\?", "."), actual)
                for o in options
            ):
                return False
    return True


def trust_allows(document, action, candidates, context):
    """Evaluate a role trust policy for one action: an explicit Deny wins, then any Allow."""
    allowed = False
    for statement in _as_list(document.get("Statement")):
        if not _action_matches(statement.get("Action"), action):
            continue
        if not _principal_matches(statement.get("Principal"), candidates):
            continue
        if not _conditions_hold(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def moto_role(arn):
    """The role moto holds under this ARN, or None (no such role, or not a role ARN)."""
    try:
        parsed = RoleArn.parse(arn)
        return iam_backends[parsed.account_id][parsed.partition].get_role_by_arn(arn)
    except Exception:  # ValueError for a bad ARN, moto's own for an unknown role
        return None


@functools.cache
def _aws_managed_policies():
    return json.loads(aws_managed_policies_data)


def load_aws_managed_policy(arn):
    """Give moto the AWS managed policy this ARN names (ReadOnlyAccess...), if AWS has it.

    moto loads AWS's 1,500 managed policies only when told to, which makes every reset
    slow; the sandbox adds the one a call names, so `create_broker_role
    --managed-policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess` works as it does on AWS.
    """
    match = re.fullmatch(r"arn:(aws[\w-]*):iam::aws:policy/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)", arn)
    data = _aws_managed_policies().get(match[2]) if match else None
    if data is None:
        return
    backend = iam_backends[DEFAULT_ACCOUNT_ID][match[1]]
    if arn not in backend.managed_policies:
        policy = AWSManagedPolicy.from_data(match[2], DEFAULT_ACCOUNT_ID, backend.region_name, data)
        if policy.arn == arn:
            backend.managed_policies[arn] = policy


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


class Sandbox:
    """The WSGI application. One instance holds the sessions and tokens it issued."""

    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()
        self.sessions = {}
        self.tokens = {}
        # e.g. {"sts": "throttle"} or {"federation": "no-token", "delay": 5}
        self.faults = {}
        # Requests seen, by STS action or federation action: what tests count.
        self.calls = collections.Counter()

    def reset(self):
        """Forget every role, session and token (moto included)."""
        with self.lock:
            moto_api_backend.reset()
            self.sessions.clear()
            self.tokens.clear()
            self.faults = {}
            self.calls.clear()

    # --- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self._refuse_the_web(request) or self._route(request, environ)
        # moto answers every origin with CORS headers: no web page may read this sandbox.
        cors = {
            name
            for name, _ in response.headers.items()
            if name.lower().startswith("access-control-")
        }
        for name in cors:
            del response.headers[name]
        return response(environ, start_response)

    @staticmethod
    def _refuse_the_web(request):
        """A 403 for anything a web page in the person's browser could send: a Host that is
        not loopback (DNS rebinding), a CORS preflight, a request from another origin."""
        if urlsplit(f"//{request.host}").hostname not in LOOPBACK_NAMES:
            return Response("forbidden: the sandbox answers on loopback only\n", status=403)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" or (origin and origin != f"http://{request.host}"):
            return Response("forbidden: no cross-origin requests\n", status=403)
        if request.path.startswith("/moto-api"):
            return Response("not found\n", status=404)
        return None

    def _route(self, request, environ):
        path = request.path
        if path == "/federation":
            self.calls[f"federation:{request.values.get('Action', '')}"] += 1
            response = self._fault("federation") or self.federation(request)
        elif path == "/oauth":
            response = self.logout(request)
        elif path == "/_sandbox/faults":
            response = self.fault_control(request)
        else:
            body = request.get_data(cache=True)
            # moto reads the body again from the environ: give it a fresh stream.
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            form = parse_qs(body.decode("utf-8", "replace")) if body else {}
            if self._service(request) == "sts":
                self.calls[f"sts:{form.get('Action', [''])[0]}"] += 1
            if form.get("Action") == ["AssumeRole"] and self._service(request) == "sts":
                response = self._fault("sts") or self.assume_role(request, environ, form)
            elif self._service(request) == "sts":
                response = self._fault("sts") or self._moto(environ)
            else:
                for arn in form.get("PolicyArn", []):
                    load_aws_managed_policy(arn)
                response = self._iam_fault(form) or self._moto(environ)
        return response

    def _moto(self, environ):
        app_iter, status, headers = run_wsgi_app(self.moto, environ, buffered=True)
        body = b"".join(app_iter)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return Response(body, status=status, headers=headers)

    @staticmethod
    def _service(request):
        # SigV4: Credential=<key>/<date>/<region>/<service>/aws4_request
        match = re.search(
            r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/", request.headers.get("Authorization", "")
        )
        return match.group(3) if match else ""

    @staticmethod
    def _caller(request):
        match = re.search(
            r"Credential=([^/]+)/\d+/([^/]+)/", request.headers.get("Authorization", "")
        )
        return (match.group(1), match.group(2)) if match else ("", "us-east-1")

    # --- faults ---------------------------------------------------------------------------

    def fault_control(self, request):
        if request.remote_addr not in {"127.0.0.1", "::1", None}:
            return Response("forbidden\n", status=403)
        if request.method == "POST" and request.mimetype != "application/json":
            # A JSON body needs a CORS preflight, which is refused: no web page can set faults.
            return Response("send the faults as application/json\n", status=415)
        if request.method == "POST":
            try:
                faults = json.loads(request.get_data() or b"{}")
            except ValueError:
                return Response("the faults are a JSON object\n", status=400)
            self.faults = faults if isinstance(faults, dict) else {}
        return Response(json.dumps(self.faults), content_type="application/json")

    def _fault(self, target):
        kind = self.faults.get(target)
        if not kind:
            return None
        if kind == "slow":
            time.sleep(float(self.faults.get("delay", 30)))
            return None
        if target == "federation":
            if kind == "500":
                return Response("Internal Server Error", status=500)
            if kind == "no-token":
                return Response("{}", status=200, content_type="application/json")
            if kind == "html":
                return Response("<html>Service unavailable</html>", status=200)
            return None
        if kind == "throttle":
            return self._sts_error(AwsFault(400, "Throttling", "Rate exceeded"))
        if kind == "500":
            return self._sts_error(AwsFault(500, "InternalFailure", "Internal failure"))
        if kind == "malformed":
            return Response("<AssumeRoleResponse><Broken", status=200, content_type="text/xml")
        return None

    def _iam_fault(self, form):
        # {"iam": "denied"}: the broker lacks IAM write permissions (reads still work).
        action = form.get("Action", [""])[0]
        if self.faults.get("iam") == "denied" and action.startswith(("Put", "Create", "Delete")):
            return self._sts_error(
                AwsFault(
                    403,
                    "AccessDenied",
                    f"User: arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/moto is not authorized to "
                    f"perform: iam:{action}",
                )
            )
        return None

    # --- STS ------------------------------------------------------------------------------

    @staticmethod
    def _sts_error(fault):
        root = ET.Element("ErrorResponse", xmlns=STS_NS)
        error = ET.SubElement(root, "Error")
        ET.SubElement(error, "Type").text = "Sender" if fault.status < 500 else "Receiver"
        ET.SubElement(error, "Code").text = fault.code
        ET.SubElement(error, "Message").text = fault.message
        ET.SubElement(root, "RequestId").text = str(uuid.uuid4())
        return Response(ET.tostring(root), status=fault.status, content_type="text/xml")

    def assume_role(self, request, environ, form):
        params = {key: values[0] for key, values in form.items()}
        caller_key, region = self._caller(request)
        try:
            partition, chained, candidates = self._authorise(request, caller_key, region)
            role = self._check_assume_role(params, partition, chained, candidates)
        except AwsFault as fault:
            return self._sts_error(fault)
        response = self._moto(environ)
        if response.status_code != 200:
            return response
        return self._remember(response, params, role, chained, partition)

    def _authorise(self, request, caller_key, region):
        with self.lock:
            caller = self.sessions.get(caller_key)
        partition = partition_of_region(region)
        if caller is not None:
            account = RoleArn.parse(caller.role_arn).account_id
            candidates = {
                caller.role_arn,
                caller.assumed_role_arn,
                account,
                f"arn:{caller.partition}:iam::{account}:root",
            }
            return partition, True, candidates
        account = DEFAULT_ACCOUNT_ID
        chained = bool(request.headers.get("X-Amz-Security-Token"))
        candidates = {
            account,
            f"arn:{partition}:iam::{account}:root",
            f"arn:{partition}:iam::{account}:user/moto",
        }
        return partition, chained, candidates

    def _check_assume_role(self, params, partition, chained, candidates):
        def invalid(message):
            return AwsFault(400, "ValidationError", message)

        arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        if not NAME_RE.match(session_name):
            raise invalid(
                "1 validation error detected: Value at 'roleSessionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        try:
            duration = int(params.get("DurationSeconds", "3600"))
        except ValueError:
            raise invalid("DurationSeconds must be a number.") from None
        if not 900 <= duration <= 43200:
            raise invalid(
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy "
                "constraint: Member must have value between 900 and 43200"
            )
        external_id = params.get("ExternalId")
        if external_id is not None and not EXTERNAL_ID_RE.match(external_id):
            raise invalid("Value at 'externalId' failed to satisfy constraint.")
        source_identity = params.get("SourceIdentity")
        if source_identity is not None and (
            not NAME_RE.match(source_identity) or source_identity.lower().startswith("aws:")
        ):
            raise invalid("Value at 'sourceIdentity' failed to satisfy constraint.")
        tags = {
            params[key]: params.get(key.replace(".Key", ".Value"), "")
            for key in params
            if re.fullmatch(r"Tags\.member\.\d+\.Key", key)
        }
        if len(tags) > 50 or any(not 1 <= len(k) <= 128 or len(v) > 256 for k, v in tags.items()):
            raise invalid("Tags: at most 50, keys of 1-128 and values of 0-256 characters.")
        policy = params.get("Policy")
        if policy is not None:
            try:
                json.loads(policy)
            except ValueError:
                raise AwsFault(400, "MalformedPolicyDocument", "Syntax errors in policy.") from None
            if len(policy) > 2048:
                raise AwsFault(400, "PackedPolicyTooLarge", "Session policy too large.")

        denied = AwsFault(
            403,
            "AccessDenied",
            f"User is not authorized to perform: sts:AssumeRole on resource: {arn}",
        )
        role = moto_role(arn)
        if role is None or RoleArn.parse(arn).partition != partition:
            raise denied
        document = json.loads(role.assume_role_policy_document)
        context = {"sts:externalid": external_id} if external_id is not None else {}
        if source_identity is not None:
            context["sts:sourceidentity"] = source_identity
        required = ["sts:AssumeRole"]
        if source_identity is not None:
            required.append("sts:SetSourceIdentity")
        if tags:
            required.append("sts:TagSession")
        for action in required:
            if not trust_allows(document, action, candidates, context):
                raise AwsFault(
                    403,
                    "AccessDenied",
                    f"User is not authorized to perform: {action} on resource: {arn}",
                )
        if duration > int(role.max_session_duration or 3600):
            raise invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        if chained and duration > CHAINED_SESSION_LIMIT:
            raise invalid(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining."
            )
        return {
            "arn": arn,
            "session_name": session_name,
            "source_identity": source_identity or "",
        }

    def _remember(self, response, params, role, chained, partition):
        body = response.get_data()
        root = ET.fromstring(body)

        def text(name):
            found = root.find(f".//{{{STS_NS}}}{name}")
            if found is None:
                found = root.find(f".//{name}")
            return found.text if found is not None else ""

        session = RoleSession(
            access_key_id=text("AccessKeyId"),
            secret_access_key=text("SecretAccessKey"),
            session_token=text("SessionToken"),
            expiration=datetime.fromisoformat(text("Expiration").replace("Z", "+00:00")),
            role_arn=role["arn"],
            assumed_role_arn=text("Arn"),
            session_name=role["session_name"],
            source_identity=role["source_identity"],
            chained=chained,
            partition=partition,
        )
        with self.lock:
            self._forget_expired()
            self.sessions[session.access_key_id] = session
        if session.source_identity:
            # AWS echoes SourceIdentity in the result; moto does not.
            marker = b"<AssumeRoleResult>"
            echo = f"<SourceIdentity>{html.escape(session.source_identity)}</SourceIdentity>"
            body = body.replace(marker, marker + echo.encode(), 1)
        return Response(body, status=200, content_type="text/xml")

    def _forget_expired(self):
        moment = now()
        for key in [k for k, s in self.sessions.items() if s.expiration <= moment]:
            del self.sessions[key]
        for key in [
            k for k, t in self.tokens.items() if t.issued_at + SIGNIN_TOKEN_LIFETIME <= moment
        ]:
            del self.tokens[key]

    # --- federation -----------------------------------------------------------------------

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
        revoked_before = self.revoked_before(session.role_arn)
        if revoked_before and session.issued_at < revoked_before:
            return self._refuse(
                "Access denied: this role's sessions issued before "
                f"{revoked_before:%Y-%m-%d %H:%M:%S} UTC were revoked (AWSRevokeOlderSessions).",
                status=403,
            )
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

    @staticmethod
    def revoked_before(role_arn):
        """The cut-off of the role's AWSRevokeOlderSessions policy, if it has one."""
        role = moto_role(role_arn)
        document = role.policies.get("AWSRevokeOlderSessions") if role else None
        if not document:
            return None
        statement = json.loads(document)["Statement"]
        cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        return datetime.fromisoformat(cutoff.replace("Z", "+00:00"))

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


class QuietRequestHandler(MotoRequestHandler):
    """Logs method, path and status only: query strings here carry sign-in tokens."""

    def log_request(self, code="-", size="-"):
        path = urlsplit(self.path).path
        self.log("info", '"%s %s" %s', self.command, path, code)


def serve(host="127.0.0.1", port=5055):
    """A threaded server for the sandbox; the caller runs serve_forever() and shutdown()."""
    if host not in LOOPBACK_NAMES:
        raise ValueError(f"the sandbox listens on loopback only, not {host}")
    return make_server(host, port, Sandbox(), threaded=True, request_handler=QuietRequestHandler)


def main(argv=None):
    parser = argparse.ArgumentParser(description="The sandbox AWS for Portcullis.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    try:
        server = serve(args.host, args.port)
    except ValueError as error:
        parser.error(str(error))
    print(f"Sandbox AWS on http://{args.host}:{server.server_port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
