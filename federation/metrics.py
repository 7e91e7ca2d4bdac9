"""What the grants app counts and times: issuances, and the calls of the AWS door."""

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.views.decorators.debug import sensitive_variables
from prometheus_client import Counter, Histogram

from core.metrics import FAST_BUCKETS

F = TypeVar("F", bound=Callable[..., Any])

ISSUANCES = Counter(
    "portcullis_issuances",
    "Console sign-in URLs and CLI credentials, by kind (console, cli), outcome (issued, "
    "failed, denied) and tenant",
    ["kind", "outcome", "tenant"],
)
AWS_CALLS = Histogram(
    "portcullis_aws_call_seconds",
    "Calls to AWS (STS, IAM, the federation endpoint), by operation and outcome (ok or the "
    "error code)",
    ["operation", "outcome"],
    buckets=FAST_BUCKETS,
)
_ISSUANCE_OUTCOMES = {"issued", "failed", "denied"}


def count_record(action: str, tenant_slug: str) -> None:
    """An issuance's outcome, as its audit record says (`console.issued`, `cli.denied`...)."""
    kind, _, outcome = action.partition(".")
    if kind in ("console", "cli") and outcome in _ISSUANCE_OUTCOMES:
        ISSUANCES.labels(kind, outcome, tenant_slug or "-").inc()


def timed_aws_call(operation: str) -> Callable[[F], F]:
    """Decorate a function of the AWS door: each call is timed under `operation`, its
    outcome "ok" or the code of the error it raised (the portal's errors carry AWS's)."""

    def decorate(call: F) -> F:
        @functools.wraps(call)
        @sensitive_variables("args", "kwargs")  # the door's arguments carry credentials
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, outcome = time.perf_counter(), "ok"
            try:
                return call(*args, **kwargs)
            except Exception as error:
                outcome = getattr(error, "code", "") or type(error).__name__
                raise
            finally:
                AWS_CALLS.labels(operation, outcome).observe(time.perf_counter() - started)

        return timed  # type: ignore[return-value]

    return decorate
