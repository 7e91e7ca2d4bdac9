"""The background worker seen from outside: its heartbeat, its queue, the results it leaves.

The worker (`manage.py db_worker`, Django's tasks API on the database backend) says nothing
about itself, so the access clock keeps one `heartbeat` task queued; when the worker runs
it, the task's finish time is the worker's last sign of life. /readyz and /metrics read
these figures from the database, the same whichever process answers.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max
from prometheus_client.core import GaugeMetricFamily, Metric

from access.models import AccessRequest
from access.tasks import heartbeat
from core.health import Finding

HEARTBEAT = heartbeat.module_path


def on_database_backend() -> bool:
    """The figures below read the database backend's table; another backend keeps its own."""
    return settings.TASKS["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"


def keep_heartbeat() -> bool:
    """Queue a heartbeat unless one already waits (the clock calls this every pass).
    Returns whether one was queued."""
    waiting = DBTaskResult.objects.filter(task_path=HEARTBEAT, status=TaskResultStatus.READY)
    if waiting.exists():
        return False
    heartbeat.enqueue()
    return True


def prune_results(now: datetime) -> int:
    """Delete finished tasks older than TASK_RESULTS_KEEP_DAYS: the queue's table would
    otherwise grow with every notification and heartbeat."""
    before = now - timedelta(days=settings.TASK_RESULTS_KEEP_DAYS)
    finished = Q(status=TaskResultStatus.SUCCESSFUL) | Q(status=TaskResultStatus.FAILED)
    deleted, _ = DBTaskResult.objects.filter(finished, finished_at__lt=before).delete()
    return deleted


@dataclass(frozen=True)
class Figures:
    last_beat: datetime | None
    waiting: int  # tasks due now, not yet taken
    oldest_due: datetime | None  # when the longest-waiting of them fell due


def figures(now: datetime) -> Figures:
    never = get_date_max()  # a task enqueued without run_after is due from its enqueueing
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    at_once = ready.filter(run_after=never).aggregate(n=Count("id"), due=Min("enqueued_at"))
    later = ready.filter(run_after__lte=now).aggregate(n=Count("id"), due=Min("run_after"))
    beat = (
        DBTaskResult.objects.filter(task_path=HEARTBEAT, status=TaskResultStatus.SUCCESSFUL)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    dues = [due for due in (at_once["due"], later["due"]) if due is not None]
    return Figures(
        last_beat=beat, waiting=at_once["n"] + later["n"], oldest_due=min(dues, default=None)
    )


def readiness() -> list[Finding]:
    """The worker's heartbeat (reported), and the queue: not ready when a task due longer
    than QUEUE_STUCK_SECONDS ago still waits."""
    if not on_database_backend():
        return [Finding("queue", True, "kept by another backend; not checked here")]
    now = timezone.now()
    found = figures(now)
    if found.last_beat is None:
        beat = Finding("worker", True, "no heartbeat yet (is the access clock running?)")
    else:
        age = int((now - found.last_beat).total_seconds())
        fresh = age <= settings.WORKER_HEARTBEAT_STALE_SECONDS
        state = "alive" if fresh else "silent"
        beat = Finding("worker", True, f"{state}, last heartbeat {age} s ago")
    waited = int((now - found.oldest_due).total_seconds()) if found.oldest_due else 0
    stuck = waited > settings.QUEUE_STUCK_SECONDS
    queue = Finding(
        "queue",
        not stuck,
        f"{'stuck' if stuck else 'ok'}, {found.waiting} waiting, the oldest for {waited} s",
    )
    return [beat, queue]


def collect() -> Iterable[Metric]:
    """The queue and the open access requests, read at scrape time."""
    now = timezone.now()
    if on_database_backend():
        found = figures(now)
        yield GaugeMetricFamily(
            "portcullis_task_queue_depth", "Background tasks due and not yet taken", found.waiting
        )
        yield GaugeMetricFamily(
            "portcullis_task_queue_oldest_seconds",
            "How long the longest-waiting due task has waited",
            (now - found.oldest_due).total_seconds() if found.oldest_due else 0,
        )
        if found.last_beat is not None:
            yield GaugeMetricFamily(
                "portcullis_worker_heartbeat_age_seconds",
                "Seconds since the background worker last ran its heartbeat",
                (now - found.last_beat).total_seconds(),
            )
    open_requests = GaugeMetricFamily(
        "portcullis_access_requests_open",
        "Access requests waiting for approval or active now, by state and tenant",
        labels=["state", "tenant"],
    )
    rows = (
        AccessRequest.objects.unscoped("metrics count every tenant's open requests")
        .filter(state__in=AccessRequest.OPEN_STATES)
        .values_list("state", "tenant__slug")
        .annotate(n=Count("id"))
    )
    for state, tenant, n in rows:
        open_requests.add_metric([state, tenant], n)
    yield open_requests
