"""Use cases of access on request, one module per subject: requests (filing, deciding,
cancelling, ending, reviewing), sessions (ending one person's live sessions) and the clock.
Each writes its audit record with its change and raises the portal's own exceptions."""

from access.services.requests import (
    cancel,
    decide,
    end_window,
    file_request,
    review,
)

__all__ = [
    "cancel",
    "decide",
    "end_window",
    "file_request",
    "review",
]
