"""What the sandbox remembers: the role sessions and sign-in tokens it issued."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
