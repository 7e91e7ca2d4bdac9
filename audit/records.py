"""Writing the audit trail: `record()` is the only way a record is made.

Every app writes through here: a change and its record commit together, except issuance,
which records `requested` before AWS and the outcome after (fail closed: no record, nothing
issued). Dotted action names; the actor's username is copied on, so a record still names
the person after their account is deleted.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self

from django.db import DatabaseError, transaction
from django.http import HttpRequest

from audit import metrics as audit_metrics
from audit.models import AuditEvent
from core import metrics
from core.errors import PortalError
from core.net import client_ip

log = logging.getLogger("audit")


class AuditUnavailable(PortalError):
    """The audit record could not be written, so nothing is handed out (a 503)."""

    status = 503
    title = "Try again in a moment"


@dataclass(frozen=True)
class RequestMeta:
    """Who is asking, from where: copied onto every audit record."""

    client_ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> Self:
        return cls(
            client_ip=client_ip(request) or "",
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:256],
            request_id=getattr(request, "request_id", ""),
        )


def _fit(name: str, value: Any) -> Any:
    """Text as the column can hold it: no NUL (PostgreSQL refuses it), cut at its length."""
    max_length = getattr(AuditEvent._meta.get_field(name), "max_length", None)
    if isinstance(value, str) and max_length:
        return value.replace("\x00", "")[:max_length]
    return value


def record(
    action: AuditEvent.Action,
    *,
    actor: Any = None,
    tenant: Any = None,
    meta: RequestMeta | None = None,
    mapping: Any = None,
    durable: bool = True,
    **fields: Any,
) -> AuditEvent:
    """Append one audit record, committed on its own. Raises AuditUnavailable on failure.

    `durable=False` (PostgreSQL, a record committed on its own): the commit does not wait
    for the disk. For a record that announces what follows, like an issuance's `requested`:
    the outcome's durable commit, which must come before anything is handed out, flushes
    it too, since the write-ahead log is written in order. A crash in between loses the
    note that a session was being asked for, never a credential handed out without its
    record."""
    # An action the trail does not know is a bug, not a record: refused before anything.
    action = AuditEvent.Action(action)
    meta = meta or RequestMeta()
    if mapping is not None:
        fields.setdefault("mapping_id", mapping.pk)
        fields.setdefault("role_arn", mapping.role_arn)
        tenant = tenant or mapping.tenant
    fields["actor_username"] = fields.pop("actor_username", None) or (
        actor.get_username() if actor else ""
    )
    fields.update(user_agent=meta.user_agent, request_id=meta.request_id)
    started = time.perf_counter()
    try:
        connection = transaction.get_connection()
        on_its_own = not connection.in_atomic_block
        event = AuditEvent(
            action=action,
            actor=actor if actor and actor.pk else None,
            tenant=tenant,
            client_ip=meta.client_ip or None,
            **{name: _fit(name, value) for name, value in fields.items()},
        )
        with transaction.atomic():
            # Relaxed only for a transaction of its own: never another change's commit.
            event.save(force_insert=True, relaxed_commit=not durable and on_its_own)
        audit_metrics.AUDIT_WRITES.observe(time.perf_counter() - started)
        metrics.count_record(action, event.tenant.slug if event.tenant is not None else "")
        log.info(
            "audit %s",
            action,
            extra={
                "event": action,
                "tenant": event.tenant.slug if event.tenant is not None else "",
                "actor": event.actor_username,
                # The chain's head after this record: a tail cut off the database later
                # still shows against the log.
                "sequence": event.sequence,
                "hash": event.hash,
            },
        )
        return event
    except DatabaseError:
        log.exception("audit record could not be written", extra={"action": action})
        raise AuditUnavailable(
            "The portal cannot write its audit trail right now, so it issues nothing. "
            "Try again in a moment."
        ) from None


def record_for_person(
    action: AuditEvent.Action,
    *,
    actor: Any = None,
    person: Any = None,
    tenants: Iterable[Any] | None = None,
    **fields: Any,
) -> list[AuditEvent]:
    """Record something that concerns a person rather than one grant: once in each of
    `tenants` (default: every tenant the person belongs to), so each tenant's admins see
    it in their own trail; once without a tenant for someone who belongs to none."""
    person = person or actor
    if tenants is None:
        tenants = [m.tenant for m in person.memberships.select_related("tenant")] if person else []
    return [
        record(action, actor=actor, tenant=tenant, **fields) for tenant in list(tenants) or [None]
    ]
