"""The refusals of access requests, each with the status and title it is answered with."""

from core.errors import PortalError


class RequestNotFound(PortalError):
    """No request with that id is visible to this person (a 404, as for another tenant's)."""

    status = 404
    title = "Not found"

    def __init__(self, message: str = "There is nothing here, or it is not yours to see.") -> None:
        super().__init__(message)


class NotAllowed(PortalError):
    """The person may see the request but not do this to it (decide their own, end someone
    else's window without being an approver or admin...)."""

    status = 403
    title = "Not allowed"


class AlreadySettled(PortalError):
    """The request is no longer in a state this can happen in (a 409)."""

    status = 409
    title = "Already settled"
