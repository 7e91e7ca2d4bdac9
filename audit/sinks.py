"""Setting up audit sinks: the services the admin saves through, each writing its record in
the same transaction. Records name a sink by kind, name and where it points (without a
query string), never its token."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from audit import streaming, tasks
from audit.models import AuditEvent, AuditSink
from audit.records import RequestMeta, record

# What a sink's record says changed, for the fields a person sets.
SETTINGS = ("name", "kind", "destination", "ca_certificate", "active")


def _described(sink: AuditSink) -> str:
    whose = f"{sink.tenant.slug}'s records" if sink.tenant else "every tenant's records"
    where = streaming.shown(sink.kind, sink.destination)
    return f"{sink.get_kind_display()} {sink.name!r} to {where}, {whose}"


@sensitive_variables("token")
def save_sink(
    *,
    sink: AuditSink,
    token: str,
    actor: Any,
    meta: RequestMeta,
    from_start: bool = True,
    changed: list[str] | None = None,
) -> AuditSink:
    """Save the sink (a new token sealed when one is given) and record it. A new sink starts
    at the trail's first record, or with `from_start=False` at the records written from now
    on. Saving queues a delivery at once: a sink that was failing tries again now."""
    adding = sink.pk is None
    if sink.tenant_id is None and not (actor is None or actor.is_superuser):
        raise PermissionDenied("Only an operator may receive every tenant's records.")
    if token:
        sink.set_token(token)
    sink.full_clean()
    with transaction.atomic():
        if adding and not from_start:
            head = (
                AuditEvent.objects.unscoped("the trail's head")
                .order_by("-sequence")
                .values_list("sequence", flat=True)
                .first()
            )
            sink.cursor = head or 0
        # A change saves what people set, never the worker's state (the cursor, the lease)
        # as this copy of the sink last saw it.
        sink.save(update_fields=None if adding else [*SETTINGS, "sealed_token"])
        if adding:
            start = "from the first record" if from_start else f"after record #{sink.cursor}"
            detail = f"{_described(sink)}, {start}"
        else:
            what = [name for name in (changed or []) if name in SETTINGS]
            what += ["token replaced"] if token else []
            detail = f"{_described(sink)}: changed {', '.join(what) or 'nothing'}"
        record(
            AuditEvent.Action.SINK_ADDED if adding else AuditEvent.Action.SINK_CHANGED,
            actor=actor,
            tenant=sink.tenant,
            meta=meta,
            detail=detail[:500],
        )
        if not adding:
            # A new sink's record queues its first delivery; a changed one (its SIEM fixed,
            # say) should not wait out the pause after its last failure.
            transaction.on_commit(lambda: deliver_now(sink), robust=True)
    return sink


def remove_sink(*, sink: AuditSink, actor: Any, meta: RequestMeta) -> None:
    with transaction.atomic():
        record(
            AuditEvent.Action.SINK_REMOVED,
            actor=actor,
            tenant=sink.tenant,
            meta=meta,
            detail=f"{_described(sink)}, after record #{sink.cursor}"[:500],
        )
        sink.delete()


def deliver_now(sink: AuditSink) -> bool:
    """Try the sink now, instead of when its next attempt is due (after the SIEM is back)."""
    AuditSink.objects.unscoped("a sink already in hand").filter(pk=sink.pk).update(retry_after=None)
    return tasks.schedule(sink.pk, delay=0, replace=True)
