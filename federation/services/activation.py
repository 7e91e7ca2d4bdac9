"""On-request grants: issuance asks whoever keeps access windows (the access app, above this
one) whether the person has one open, and fails closed when nobody answers."""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import User
from core.hooks import Hook
from federation.models import RoleMapping


@dataclass(frozen=True)
class Window:
    """An approved access window: sessions issued under it end by `ends_at`."""

    request_id: int
    ends_at: datetime


# Asked of the app that keeps access requests (above this one), which answers when it is
# ready. Unanswered, no grant has a window: an on-request grant is then never usable.
open_window: Hook[[User, RoleMapping, datetime], Window | None] = Hook(
    "the person's active window on a grant", unanswered=lambda user, mapping, now: None
)
