"""The portal's own exceptions: each carries the HTTP status and the title of the page (or
JSON answer) it becomes, so views and the API map them to responses in one place
(`core.views.error_response`)."""


class PortalError(Exception):
    """Something the person asked for that the portal will not or cannot do."""

    status = 400
    title = "Check your choices"
    # Seconds to wait before trying again (sent as Retry-After), where that is known.
    retry_after: int | None = None
    # A stable name for programs reading the JSON API ("AccessWindowRequired"...).
    code: str = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenRequired(PortalError):
    """A JSON API call without a valid API token."""

    status = 401
    title = "Sign in"
    code = "TokenRequired"

    def __init__(self) -> None:
        super().__init__("A valid API token is required.")


class RateLimited(PortalError):
    """Too much asked for in too short a time, by this person or in this tenant (a 429)."""

    status = 429
    title = "Slow down"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidChoice(PortalError):
    """The person asked for something that is not on offer (a 400, with the message)."""
