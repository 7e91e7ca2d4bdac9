"""The background worker's side of streaming the trail: deliveries to sinks, at least once
and in sequence order, whatever the receivers do.

How records keep flowing without a task per record:

- When a record commits, `kick()` queues a delivery for each active sink that should get
  it and has none queued yet, to run AUDIT_SINK_KICK_SECONDS later: whatever is written
  in the meantime goes in the same batch. At most one delivery waits per sink.
- A delivery sends one batch (the AUDIT_SINK_BATCH records after the sink's cursor, in
  sequence order) and moves the cursor only once the receiver has taken it. While records
  wait it queues the next batch at once; after a failure it queues itself again after
  AUDIT_SINK_RETRY_SECONDS[failures - 1] (the last delay repeats for as long as it takes),
  so a receiver that is down costs one attempt per delay and the records wait, in order,
  in the trail itself. Nothing is ever skipped.
- The heartbeat runs `ensure_deliveries()` every minute: a sink with records waiting and no
  delivery queued or running (a worker killed mid-delivery, a task lost) gets one.

One delivery at a time per sink: a delivery holds the sink's lease, taken and given back by
conditional updates rather than a row lock, so no transaction stays open across the network
exchange (on SQLite that would hold up every writer, the trail included). A lease outlives
the longest exchange; a worker that dies holding one delays its sink until it runs out.

At least once: a worker that dies after the receiver took a batch and before the cursor
moved sends that batch again. Those records carry the same sequence numbers, which is how
the receiver recognises them.

Nothing a crash could take back: an issuance's `requested` record commits without waiting
for the disk (audit.records), so another transaction can read it before it is durable. A
delivery renews its lease after reading its batch and before sending it; that commit waits
for the disk, and PostgreSQL's log is written in order, so every record in the batch is
durable by then. A database that crashed and came back never reuses a sequence number a
SIEM already holds.
"""

import functools
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django_tasks import TaskContext, TaskResultStatus, task
from prometheus_client.core import GaugeMetricFamily, Metric

from audit import metrics as audit_metrics
from audit import streaming
from audit.models import AuditEvent, AuditSink
from audit.records import record

log = logging.getLogger(__name__)

# After this many failed attempts in a row a `sink.failed` record says the sink is down (and
# a `sink.recovered` one when it takes records again): one blip is not worth a record.
RECORD_FAILURE_AFTER = 3


def _sinks() -> Any:
    return AuditSink.objects.unscoped("the worker streams every tenant's trail")


def lease_seconds() -> float:
    """Longer than any one exchange (connect, TLS, send, answer), each bounded by the
    timeout."""
    return 4 * settings.AUDIT_SINK_TIMEOUT_SECONDS + 30


# --- queueing --------------------------------------------------------------------------------


@receiver(post_save, sender=AuditEvent, dispatch_uid="audit.tasks.kick_on_commit")
def _kick_on_commit(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        # robust: the record is committed by then; a queue that cannot take the delivery is
        # logged, and the heartbeat queues it later.
        transaction.on_commit(
            functools.partial(kick, instance.tenant_id), using=kwargs.get("using"), robust=True
        )


def kick(tenant_id: int | None) -> None:
    """A record of `tenant_id` (None: of no tenant) committed: queue a delivery for each
    sink that should receive it, unless one is queued already.

    When this queued a delivery for every such sink (or there is none), the tenant's next
    records in this process spare the query for AUDIT_SINK_KICK_SECONDS: those deliveries
    run no sooner, so they take every record committed meanwhile."""
    key = f"portcullis:audit-sinks-kicked:{tenant_id}"
    window = settings.AUDIT_SINK_KICK_SECONDS
    if window > 0 and cache.get(key):
        return
    everyone = Q(tenant__isnull=True)
    matching = _sinks().filter(active=True)
    matching = matching.filter(everyone | Q(tenant_id=tenant_id) if tenant_id else everyone)
    sinks = list(matching.values_list("pk", "queued_task"))
    queued = [schedule(sink_id) for sink_id, waiting_task in sinks if not waiting_task]
    if window > 0 and len(queued) == len(sinks) and all(queued):
        cache.set(key, True, timeout=window)


def schedule(sink_id: int, *, delay: float | None = None, replace: bool = False) -> bool:
    """Queue a delivery to the sink, `delay` seconds from now (AUDIT_SINK_KICK_SECONDS when
    not given) and never before its next attempt is due, unless one is queued already
    (`replace`: queue a new one in its place). True when this call queued one."""
    if delay is None:
        delay = settings.AUDIT_SINK_KICK_SECONDS
    now = timezone.now()
    with transaction.atomic():
        row = _sinks().filter(pk=sink_id, active=True).values("queued_task", "retry_after").first()
        if row is None or (row["queued_task"] and not replace):
            return False
        run_after = max(now + timedelta(seconds=delay), row["retry_after"] or now)
        # Conditional on what was read, so two callers never both queue one ("queuing"
        # until the task's id is known, in this same transaction).
        claimed = (
            _sinks()
            .filter(pk=sink_id, queued_task=row["queued_task"])
            .update(queued_task="queuing")
        )
        if not claimed:
            return False
        result = deliver_to_sink.using(run_after=run_after).enqueue(sink_id)
        # A backend that runs tasks as they are enqueued has nothing left waiting.
        waiting = result.status == TaskResultStatus.READY
        _sinks().filter(pk=sink_id).update(queued_task=str(result.id) if waiting else "")
    return True


def _still_queued(task_id: str) -> bool:
    try:
        result = deliver_to_sink.get_result(task_id)
    except Exception:  # gone, not one of ours, or a backend that cannot tell
        return False
    if result.status == TaskResultStatus.READY:
        return True
    # Running, unless its worker died before the task could say so.
    started = result.started_at
    return (
        result.status == TaskResultStatus.RUNNING
        and started is not None
        and started > timezone.now() - timedelta(seconds=lease_seconds())
    )


def ensure_deliveries() -> int:
    """The safety net (the heartbeat runs it): queue a delivery for every active sink with
    records waiting and no delivery queued or running. Returns how many it queued."""
    queued = 0
    now = timezone.now()
    for sink in _sinks().filter(active=True):
        if sink.leased_until and sink.leased_until > now:
            continue
        if sink.queued_task and _still_queued(sink.queued_task):
            continue
        if sink.waiting().exists():
            queued += schedule(sink.pk, delay=0, replace=True)
    return queued


# --- delivering ------------------------------------------------------------------------------


@task(takes_context=True)
def deliver_to_sink(context: TaskContext, sink_id: int) -> None:
    deliver(sink_id, task_id=str(context.task_result.id))


def deliver(sink_id: int, *, task_id: str = "") -> None:
    """Send the sink its next batch, unless another delivery holds it; queue what follows."""
    if task_id:
        # From here on a new record queues another delivery: this one may not read it.
        _sinks().filter(pk=sink_id, queued_task=task_id).update(queued_task="")
    sink = _sinks().filter(pk=sink_id, active=True).select_related("tenant").first()
    if sink is None:
        return
    if sink.retry_after and sink.retry_after > timezone.now():
        schedule(sink_id, delay=0)  # early (a record's kick): wait for the attempt that is due
        return
    token = _take_lease(sink_id)
    if token is None:
        # Another delivery is sending; it looks for more records once it lets go.
        return
    try:
        sent = _send_next_batch(sink, token)
    finally:
        _release_lease(sink_id, token)
    # After letting go, so a record committed while sending is never left behind.
    if not sent or sink.waiting().exists():
        schedule(sink_id, delay=0)


def _take_lease(sink_id: int) -> str | None:
    token = secrets.token_hex(16)
    now = timezone.now()
    taken = (
        _sinks()
        .filter(pk=sink_id)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(lease_token=token, leased_until=now + timedelta(seconds=lease_seconds()))
    )
    return token if taken else None


def _renew_lease(sink_id: int, token: str) -> bool:
    """Hold the lease a full term from now (False: it ran out and another delivery has the
    sink). Its commit waits for the disk, and with it for every record committed before."""
    return bool(
        _sinks()
        .filter(pk=sink_id, lease_token=token)
        .update(leased_until=timezone.now() + timedelta(seconds=lease_seconds()))
    )


def _release_lease(sink_id: int, token: str) -> None:
    _sinks().filter(pk=sink_id, lease_token=token).update(lease_token="", leased_until=None)


def _send_next_batch(sink: AuditSink, token: str) -> bool:
    """One batch after the cursor. True when the receiver took it (or nothing waited)."""
    events = list(sink.waiting().select_related("tenant")[: settings.AUDIT_SINK_BATCH])
    if not events:
        return True
    if not _renew_lease(sink.pk, token):
        return True  # another delivery took over: it sends these records
    try:
        streaming.send(sink, events)
    except Exception as error:  # whatever goes wrong is retried
        reason = str(error) if isinstance(error, streaming.DeliveryFailed) else ""
        _failed(sink, token, reason or f"could not send ({type(error).__name__})")
        return False
    last = events[-1].sequence
    moved = (
        _sinks()
        .filter(pk=sink.pk, lease_token=token)
        .update(
            cursor=last,
            last_success_at=timezone.now(),
            last_error="",
            failing_since=None,
            failures=0,
            retry_after=None,
        )
    )
    if not moved:
        # The lease ran out and another delivery took over: it sends these records again.
        log.warning("audit sink lease lost", extra={"sink": sink.pk, "sequence": last})
        return True
    sink.cursor = last
    if sink.failures >= RECORD_FAILURE_AFTER:
        record(
            AuditEvent.Action.SINK_RECOVERED,
            tenant=sink.tenant,
            detail=f"{sink.get_kind_display()} {sink.name!r} takes records again "
            f"(failing since {sink.failing_since:%Y-%m-%d %H:%M:%S} UTC)",
        )
    return True


def _failed(sink: AuditSink, token: str, reason: str) -> None:
    """Note the failure, and when the next attempt is due."""
    failures = sink.failures + 1
    delays = settings.AUDIT_SINK_RETRY_SECONDS
    now = timezone.now()
    _sinks().filter(pk=sink.pk, lease_token=token).update(
        failures=failures,
        last_error=reason[:200],
        failing_since=sink.failing_since or now,
        retry_after=now + timedelta(seconds=delays[min(failures, len(delays)) - 1]),
    )
    sink_failed(sink, reason, failures=failures)
    if failures == RECORD_FAILURE_AFTER:
        record(
            AuditEvent.Action.SINK_FAILED,
            tenant=sink.tenant,
            detail=f"{sink.get_kind_display()} {sink.name!r}: {reason} "
            f"({failures} attempts); its records wait until it takes them",
        )


def sink_failed(sink: AuditSink, reason: str, *, failures: int) -> None:
    """A delivery to `sink` failed: the one place that says so, in the log and the metrics.
    Never the destination or the token: the reason is short and generic."""
    audit_metrics.STREAM_FAILURES.labels(sink.kind).inc()
    log.warning(
        "audit sink delivery failed",
        extra={
            "sink": sink.pk,
            "sink_name": sink.name,
            "kind": sink.kind,
            "reason": reason,
            "failures": failures,
            "cursor": sink.cursor,
        },
    )


def collect() -> Iterable[Metric]:
    """For /metrics: how many records each active sink has still to receive."""
    lag = GaugeMetricFamily(
        "portcullis_audit_sink_lag_records",
        "Audit records an active SIEM sink has still to receive, by sink id, kind and tenant",
        labels=["sink", "kind", "tenant"],
    )
    for sink in _sinks().filter(active=True).select_related("tenant"):
        tenant = sink.tenant.slug if sink.tenant is not None else "-"
        lag.add_metric([str(sink.pk), sink.kind, tenant], sink.waiting().count())
    yield lag
