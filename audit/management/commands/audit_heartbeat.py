import logging
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from audit import chain as audit_chain
from audit import tasks
from audit.models import AuditEvent

log = logging.getLogger("audit")


class Command(BaseCommand):
    help = (
        "Write the audit trail's head (sequence and hash) to the structured log every "
        "--every seconds, so records cut off the end of the trail show against the logs: "
        "`verify_audit --saved-head SEQUENCE:HASH` with a head from the log. Runs until "
        "stopped (the Procfile's `heartbeat` process); --count stops after that many lines. "
        "Each time it also queues a delivery for any audit sink with records waiting and "
        "none queued (a worker that died mid-delivery, a lost task)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=60.0, metavar="SECONDS")
        parser.add_argument("--count", type=int, default=0, help="stop after this many lines")

    def handle(self, *args, every, count, **options):
        written = 0
        while True:
            try:
                sequence, digest = AuditEvent.objects.order_by("-sequence").values_list(
                    "sequence", "hash"
                ).first() or (0, audit_chain.GENESIS_HASH)
            except DatabaseError:
                # A database restart must not stop the heartbeat; the gap shows in the log.
                log.exception("audit head unavailable", extra={"event": "audit.head"})
                close_old_connections()
            else:
                log.info(
                    "audit head %s:%s",
                    sequence,
                    digest,
                    extra={"event": "audit.head", "sequence": sequence, "hash": digest},
                )
            try:
                tasks.ensure_deliveries()
            except Exception:  # whatever it is, the heartbeat goes on
                log.exception("audit sinks not checked", extra={"event": "audit.sinks"})
                close_old_connections()
            written += 1
            if count and written >= count:
                return
            time.sleep(every)
