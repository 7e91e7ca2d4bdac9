"""What goes wrong at AWS, as the portal's own exceptions (`core.errors.PortalError`), and
botocore's errors translated into them with a message fit for the person waiting."""

import botocore.exceptions
from botocore.parsers import ResponseParserError

from core.errors import PortalError

# What a botocore call can raise: its own errors, AWS's answers, and unparseable replies.
BOTO_ERRORS = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    ResponseParserError,
)


USER_MESSAGES = {
    "AccessDenied": "AWS refused to let the portal assume this role (trust policy or external id).",
    "RegionDisabledException": "AWS STS is not enabled in the portal's region for this account.",
    "MalformedPolicyDocument": "AWS rejected this grant's session policy as malformed.",
    "PackedPolicyTooLarge": "AWS rejected the session: its policy and tags are too large.",
}


BROKER_ERROR_CODES = {
    "ExpiredToken",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
}


UNAVAILABLE_MESSAGE = "AWS is not answering, try again in a moment."
BROKER_MESSAGE = (
    "The portal's own AWS credentials are missing, invalid or expired. Tell your administrator."
)


class AwsError(PortalError):
    """An AWS call did not give the portal what it asked for."""

    status = 502
    title = "AWS did not issue a session"

    def __init__(self, message: str, *, code: str = "", aws_request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.aws_request_id = aws_request_id


class RoleRefused(AwsError):
    """AWS answered and said no (trust policy, external id, duration, policy...)."""

    status = 502


class UpstreamUnavailable(AwsError):
    """AWS did not answer usefully: down, slow, throttling, 5xx, a malformed answer."""

    status = 503


class BrokerMisconfigured(UpstreamUnavailable):
    """The portal's own AWS credentials are missing, invalid or expired."""


class AccountUnreachable(RoleRefused):
    """The portal has no way into the account that holds the role: the tenant names no
    administration role, or AWS refused the portal the one it names."""


def _translate(error: Exception) -> AwsError:
    """botocore's exceptions → the portal's, with a message fit for the person waiting."""
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code", "")
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in BROKER_ERROR_CODES:
            return BrokerMisconfigured(BROKER_MESSAGE, code=code, aws_request_id=request_id)
        if code == "ValidationError":
            detail = info.get("Message", "").strip()
            message = (
                f"AWS rejected the request: {detail}" if detail else "AWS rejected the request."
            )
            return RoleRefused(message, code=code, aws_request_id=request_id)
        if code in USER_MESSAGES:
            return RoleRefused(USER_MESSAGES[code], code=code, aws_request_id=request_id)
        if 400 <= status < 500 and "Throttl" not in code:
            return RoleRefused(
                f"AWS refused the request ({code}).", code=code, aws_request_id=request_id
            )
        return UpstreamUnavailable(
            UNAVAILABLE_MESSAGE, code=code or f"HTTP{status}", aws_request_id=request_id
        )
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return BrokerMisconfigured(BROKER_MESSAGE, code="NoCredentials")
    if isinstance(
        error, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError
    ):
        return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="Timeout")
    if isinstance(error, ResponseParserError):
        return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse")
    return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code=type(error).__name__)


def _translate_iam(error: Exception, permission: str) -> AwsError:
    translated = _translate(error)
    if translated.code in {"AccessDenied", "AccessDeniedException"}:
        return RoleRefused(
            f"AWS refused: Portcullis lacks {permission} on this role.",
            code=translated.code,
            aws_request_id=translated.aws_request_id,
        )
    if translated.code == "NoSuchEntity":
        return RoleRefused("AWS has no role with this ARN.", code=translated.code)
    return translated
