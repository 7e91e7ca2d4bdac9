"""STS AssumeRole checked the way AWS checks it, before moto answers it."""

import html
import json
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime

from moto.core import DEFAULT_ACCOUNT_ID
from werkzeug.wrappers import Response

from sandbox.arns import CHAINED_SESSION_SECONDS, partition_of, role_of
from sandbox.iam import denied_by_inline_policies, moto_role, trust_allows
from sandbox.state import (
    EXTERNAL_ID_RE,
    NAME_RE,
    SIGNIN_TOKEN_LIFETIME,
    STS_NS,
    AwsFault,
    RoleSession,
    now,
)

# Actions AWS answers whatever the caller's policies say ("No permissions are required").
NEVER_DENIED = {"sts:GetCallerIdentity"}


class StsMixin:
    """AssumeRole for the Sandbox application: the RoleSessionName, DurationSeconds,
    ExternalId, SourceIdentity, tag and session-policy rules, the trust policy, the role's
    MaxSessionDuration and the one-hour cap on role chaining."""

    @staticmethod
    def _sts_error(fault):
        root = ET.Element("ErrorResponse", xmlns=STS_NS)
        error = ET.SubElement(root, "Error")
        ET.SubElement(error, "Type").text = "Sender" if fault.status < 500 else "Receiver"
        ET.SubElement(error, "Code").text = fault.code
        ET.SubElement(error, "Message").text = fault.message
        ET.SubElement(root, "RequestId").text = str(uuid.uuid4())
        return Response(ET.tostring(root), status=fault.status, content_type="text/xml")

    def _denied_caller(self, request, service, form):
        """AccessDenied for a call signed with a role session this sandbox issued when the
        role's inline Deny statements cover the session (its SourceIdentity and issue
        time), as AWS refuses it; None otherwise (the broker's own keys included)."""
        caller_key, _ = self._caller(request)
        with self.lock:
            caller = self.sessions.get(caller_key)
        if caller is None or not service:
            return None
        action = f"{service}:{form.get('Action', [''])[0]}"
        if action in NEVER_DENIED:
            return None
        denied = denied_by_inline_policies(
            caller.role_arn, caller.source_identity, caller.issued_at, action=action
        )
        if denied is None:
            return None
        resource = form.get("RoleArn", [""])[0] if action == "sts:AssumeRole" else ""
        on = f" on resource: {resource}" if resource else ""
        return self._sts_error(
            AwsFault(
                403,
                "AccessDenied",
                f"User: {caller.assumed_role_arn} is not authorized to perform: {action}{on} "
                f"with an explicit deny in an identity-based policy: {denied}",
            )
        )

    def assume_role(self, request, environ, form):
        params = {key: values[0] for key, values in form.items()}
        caller_key, region = self._caller(request)
        try:
            partition, chained, candidates = self._authorise(request, caller_key, region)
            role = self._check_assume_role(params, partition, chained, candidates)
        except AwsFault as fault:
            return self._sts_error(fault)
        with self.lock:
            caller = self.sessions.get(caller_key)
        if caller is not None and caller.source_identity and not role["source_identity"]:
            # AWS keeps a session's SourceIdentity through role chaining.
            role["source_identity"] = caller.source_identity
        response = self._moto(environ)
        if response.status_code != 200:
            return response
        return self._remember(response, params, role, chained, partition)

    def _authorise(self, request, caller_key, region):
        with self.lock:
            caller = self.sessions.get(caller_key)
        partition = partition_of(region)
        if caller is not None:
            account = role_of(caller.role_arn).account_id
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
        if role is None or role_of(arn).partition != partition:
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
        if chained and duration > CHAINED_SESSION_SECONDS:
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
