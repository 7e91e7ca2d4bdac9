"""Readiness: what /readyz checks besides the database. The rooms above register their
checks here (the background worker's queue, the broker's AWS credentials), so a probe
reports them without this room knowing their models."""

from collections.abc import Callable
from dataclasses import dataclass

from core.hooks import Registry


@dataclass(frozen=True)
class Finding:
    """One line of the readiness report. `ready=False` makes /readyz answer 503."""

    name: str
    ready: bool
    detail: str


Check = Callable[[], list[Finding]]
# Added to by the rooms above, when their apps are ready.
checks: Registry[Check] = Registry("readiness checks")


def findings() -> list[Finding]:
    """What every registered check finds; a check that fails outright is not ready."""
    found: list[Finding] = []
    for check in checks:
        try:
            found.extend(check())
        except Exception as error:  # a broken check must not hide behind a 200
            found.append(Finding(getattr(check, "__name__", "check"), False, type(error).__name__))
    return found
