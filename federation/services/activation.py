"""On-request grants: issuance asks whoever keeps access windows (the access app, above this
one) whether the person has one open, and fails closed when nobody answers."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from accounts.models import User
from federation.models import RoleMapping


@dataclass(frozen=True)
class Window:
    """An approved access window: sessions issued under it end by `ends_at`."""

    request_id: int
    ends_at: datetime


WindowLookup = Callable[[User, RoleMapping, datetime], Window | None]

_lookup: WindowLookup | None = None


def register_window_lookup(lookup: WindowLookup) -> None:
    """Called once by the app that keeps access requests, when it is ready."""
    global _lookup
    _lookup = lookup


def open_window(user: User, mapping: RoleMapping, now: datetime) -> Window | None:
    """The person's active window on this grant, or None (also when no app keeps windows:
    an on-request grant is then never usable)."""
    return _lookup(user, mapping, now) if _lookup is not None else None
