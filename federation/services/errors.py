"""The services' refusals, each with the status and title it is answered with."""

from core.errors import PortalError


class GrantNotFound(PortalError):
    """No grant with that id is usable by this person now (answered as a 404)."""

    status = 404
    title = "Not found"

    def __init__(self, message: str = "There is nothing here, or it is not yours to see.") -> None:
        super().__init__(message)


class AccessWindowRequired(PortalError):
    """An on-request grant used outside an approved window, or with too little of it left
    for the shortest session AWS issues (a 403: ask for access first)."""

    status = 403
    title = "Request access first"


class AlreadyShown(PortalError):
    """The same issuance asked for again: a reload, the back button, a second click (a 409).
    A session is shown once; the person asks for a new one."""

    status = 409
    title = "Already opened"

    def __init__(self) -> None:
        super().__init__("This session was already opened and is not shown again.")


class TenantNotFound(PortalError):
    """No tenant with that id is one this person runs (answered as a 404)."""

    status = 404
    title = "Not found"

    def __init__(self, message: str = "There is nothing here, or it is not yours to see.") -> None:
        super().__init__(message)


class NoManagementAccount(PortalError):
    """The tenant names no AWS Organizations management account to read its accounts from."""

    status = 400
    title = "Name the management account first"


class PortalsOwnAccount(PortalError):
    """A tenant admin asked the portal to read its own AWS account for a tenant (a 403): the
    portal's own credentials serve operators only."""

    status = 403
    title = "Not allowed"

    def __init__(self) -> None:
        super().__init__(
            "That is the portal's own AWS account: only a platform operator may fill a "
            "tenant's directory from it."
        )
