"""Use cases of access on request, one module per subject: requests (filing, cancelling),
decisions (deciding, reviewing break-glass), windows (opening, ending), sessions (ending one
person's live sessions), the clock and its steps, and what people are told (telling).
Each writes its audit record with its change and raises the portal's own exceptions."""

from access.services.decisions import decide, review
from access.services.requests import cancel, file_request
from access.services.windows import end_window

__all__ = [
    "cancel",
    "decide",
    "end_window",
    "file_request",
    "review",
]
