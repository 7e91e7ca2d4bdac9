"""What happens with time: windows end, waiting requests escalate and expire, requesters
hear ten minutes before their window ends, old statements are pruned; the background
worker gets its heartbeat task and its old task results are deleted.

Correctness never waits for the clock: issuance checks a window's end itself and a decision
on an overdue request expires it first. The clock records the transitions, sends the
notifications and keeps the roles' inline policies small. It is safe to run on several
hosts at once: each transition is a conditional update that only one of them wins.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from access import worker
from access.models import AccessRequest
from access.services import clock_steps
from access.services.sessions import prune_cutoffs

log = logging.getLogger(__name__)
REMIND_BEFORE = timedelta(minutes=10)
State = AccessRequest.State


@dataclass
class Tick:
    ended: int = 0
    expired: int = 0
    escalated: int = 0
    reminded: int = 0
    pruned: int = 0
    heartbeats: int = 0
    task_results_pruned: int = 0


def _each(step: Callable[..., bool], rows: Iterable[AccessRequest], now: datetime) -> int:
    """Run one step on each row; a row that fails is logged and left for the next pass,
    and the others go on."""
    done = 0
    for request in rows:
        try:
            done += step(request, now=now)
        except Exception:
            log.exception(
                "access clock step failed",
                extra={"event": "access.clock", "step": step.__name__, "request": request.pk},
            )
    return done


def tick(now: datetime | None = None) -> Tick:
    now = now or timezone.now()
    done = Tick()
    every = AccessRequest.objects.unscoped("the clock looks after every tenant's requests")
    every = every.select_related("grant", "tenant", "requester")
    done.ended = _each(clock_steps.finish, every.filter(state=State.ACTIVE, ends_at__lte=now), now)
    done.reminded = _each(
        clock_steps.remind,
        every.filter(
            state=State.ACTIVE, ends_at__gt=now, ends_at__lte=now + REMIND_BEFORE, reminded_at=None
        ),
        now,
    )
    done.expired = _each(
        clock_steps.expire, every.filter(state=State.PENDING, expires_at__lte=now), now
    )
    waiting = every.filter(state=State.PENDING, escalated_at=None, expires_at__gt=now)
    overdue = [
        request
        for request in waiting
        if request.grant.escalate_after_seconds
        and request.created_at + timedelta(seconds=request.grant.escalate_after_seconds) <= now
    ]
    done.escalated = _each(clock_steps.escalate, overdue, now)
    try:
        done.pruned = prune_cutoffs(now)
    except Exception:
        log.exception("ended-access statements not pruned", extra={"event": "access.clock"})
    if worker.on_database_backend():
        # The background worker's sign of life, and the results of its finished tasks.
        done.heartbeats = int(worker.keep_heartbeat())
        done.task_results_pruned = worker.prune_results(now)
    return done
