"""What happens with time: windows end, waiting requests escalate and expire, requesters
hear ten minutes before their window ends, old statements are pruned.

Correctness never waits for the clock: issuance checks a window's end itself and a decision
on an overdue request expires it first. The clock records the transitions, sends the
notifications and keeps the roles' inline policies small. It is safe to run on several
hosts at once: each transition is a conditional update that only one of them wins.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from access.models import AccessRequest
from access.services import requests
from access.services.sessions import prune_cutoffs

REMIND_BEFORE = timedelta(minutes=10)
State = AccessRequest.State


@dataclass
class Tick:
    ended: int = 0
    expired: int = 0
    escalated: int = 0
    reminded: int = 0
    pruned: int = 0


def tick(now: datetime | None = None) -> Tick:
    now = now or timezone.now()
    done = Tick()
    every = AccessRequest.objects.unscoped("the clock looks after every tenant's requests")
    every = every.select_related("grant", "tenant", "requester")
    for request in every.filter(state=State.ACTIVE, ends_at__lte=now):
        done.ended += requests.finish(request, now=now)
    for request in every.filter(
        state=State.ACTIVE, ends_at__gt=now, ends_at__lte=now + REMIND_BEFORE, reminded_at=None
    ):
        done.reminded += requests.remind(request, now=now)
    for request in every.filter(state=State.PENDING, expires_at__lte=now):
        done.expired += requests.expire(request, now=now)
    for request in every.filter(state=State.PENDING, escalated_at=None, expires_at__gt=now):
        delay = request.grant.escalate_after_seconds
        if delay and request.created_at + timedelta(seconds=delay) <= now:
            done.escalated += requests.escalate(request, now=now)
    done.pruned = prune_cutoffs(now)
    return done
