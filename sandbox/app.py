"""The sandbox AWS: a local stand-in for STS, IAM and the console federation endpoint.

`python -m sandbox` serves, on one loopback port:

- STS and IAM from moto (server mode), with AssumeRole checked the way AWS checks it
  before moto sees it: the RoleSessionName, DurationSeconds, ExternalId, SourceIdentity,
  tag and session-policy rules; that the role exists; that its trust policy lets the
  caller assume it with this ExternalId (and set SourceIdentity and tags); the role's
  MaxSessionDuration; and the one-hour cap on role chaining. moto alone checks none of it.
  A call signed with a role session this sandbox issued is refused (AccessDenied) when the
  role's inline Deny statements cover that session's SourceIdentity and issue time
  (AWSRevokeOlderSessions, the portal's PortcullisEndedAccess), as AWS refuses it;
  sts:GetCallerIdentity, which AWS answers whatever the policies say, still answers. A
  chained session keeps its caller's SourceIdentity.
- AWS Organizations from moto, except that ListAccounts is refused as AWS refuses it
  where moto lists no accounts: AccessDeniedException in a member account,
  AWSOrganizationsNotInUseException in an account in no organization.
- `/federation`, the console sign-in endpoint: `Action=getSigninToken` accepts only
  credentials of a live session this sandbox issued, a Session JSON with exactly the
  three keys, a SessionDuration of 900-43200 and none for chained sessions;
  `Action=login` accepts a sign-in token at most 15 minutes old and a Destination on the
  partition's console domain, and shows a "sandbox console" page naming the session, or
  a 403 when the role's inline Deny statements cover the session.
- `/oauth?Action=logout`, the sign-out-first wrapper, which returns to the login URL.
- `/_sandbox/faults`, to make STS or the federation endpoint misbehave on purpose (a JSON
  POST from this machine only).

It is safe to leave running on a laptop: it listens on loopback only, answers only to a
loopback Host (no DNS rebinding), refuses every request a web page could send it from
another origin (no CORS: preflights and cross-origin requests get 403, and moto's own
CORS headers are removed), and does not serve moto's state-changing `/moto-api/`.

Nothing in the portal differs between this and real AWS except the endpoints.
"""

import collections
import io
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.organizations.models import organizations_backends
from werkzeug.serving import make_server
from werkzeug.test import run_wsgi_app
from werkzeug.wrappers import Request, Response

from sandbox.arns import role_of
from sandbox.console import ConsoleMixin
from sandbox.federation import FederationMixin
from sandbox.iam import load_aws_managed_policy
from sandbox.state import AwsFault
from sandbox.sts import StsMixin

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


class Sandbox(StsMixin, FederationMixin, ConsoleMixin):
    """The WSGI application. One instance holds the sessions and tokens it issued."""

    def __init__(self):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()
        self.sessions = {}
        self.tokens = {}
        # e.g. {"sts": "throttle"}, {"federation": "no-token", "delay": 5}, or one action
        # only: {"sts": "throttle", "only": "GetCallerIdentity"}
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
            service = self._service(request)
            action = form.get("Action", [""])[0]
            if service == "sts":
                self.calls[f"sts:{action}"] += 1
            if action == "AssumeRole" and service == "sts":
                response = (
                    self._fault("sts", action)
                    or self._denied_caller(request, service, form)
                    or self.assume_role(request, environ, form)
                )
            elif service == "sts":
                response = (
                    self._fault("sts", action)
                    or self._denied_caller(request, service, form)
                    or self._moto(environ)
                )
            else:
                for arn in form.get("PolicyArn", []):
                    load_aws_managed_policy(arn)
                response = (
                    self._iam_fault(form)
                    or self._denied_caller(request, service, form)
                    or self._no_organization(request, service)
                    or self._moto(environ)
                )
        return response

    def _no_organization(self, request, service):
        """AWS's answer to ListAccounts from an account that does not run an organization:
        a member account may not list it, and an account in none has none to list. None for
        an organization's management account (moto answers)."""
        target = request.headers.get("X-Amz-Target", "")
        if service != "organizations" or not target.endswith(".ListAccounts"):
            return None
        caller_key, _ = self._caller(request)
        with self.lock:
            caller = self.sessions.get(caller_key)
        if caller is None:
            partition, account = "aws", DEFAULT_ACCOUNT_ID
        else:
            role = role_of(caller.role_arn)
            partition, account = role.partition, role.account_id
        if organizations_backends[account][partition].org is not None:
            return None
        if account in organizations_backends.master_accounts:
            code, message = (
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            )
        else:
            code, message = (
                "AWSOrganizationsNotInUseException",
                "Your account is not a member of an organization.",
            )
        return Response(
            json.dumps({"__type": code, "Message": message}),
            status=400,
            content_type="application/x-amz-json-1.1",
        )

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

    def _fault(self, target, action=""):
        kind = self.faults.get(target)
        if not kind or self.faults.get("only", action) != action:
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
        # {"iam": "denied"}: the broker lacks IAM write permissions (reads still work);
        # {"iam": "no-read"}: it may not read IAM either (GetRole, ListRoles...).
        action = form.get("Action", [""])[0]
        kind = self.faults.get("iam")
        writes = ("Put", "Create", "Delete")
        if (kind == "denied" and action.startswith(writes)) or (
            kind == "no-read" and action.startswith((*writes, "Get", "List"))
        ):
            return self._sts_error(
                AwsFault(
                    403,
                    "AccessDenied",
                    f"User: arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/moto is not authorized to "
                    f"perform: iam:{action}",
                )
            )
        return None


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
