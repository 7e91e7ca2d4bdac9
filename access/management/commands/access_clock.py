import logging
import time
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from access.services import clock

log = logging.getLogger("access")


class Command(BaseCommand):
    help = (
        "Look after access requests as time passes: end windows whose time is up, expire "
        "and escalate requests nobody decides, tell requesters ten minutes before their "
        "window ends, prune ended-access statements from roles. Runs every "
        "ACCESS_CLOCK_SECONDS until stopped (the Procfile's `clock` process); --once runs "
        "one pass and prints what it did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then stop")

    def handle(self, *args, once, **options):
        if not once:
            log.info(
                "access clock started",
                extra={"event": "access.clock", "every": settings.ACCESS_CLOCK_SECONDS},
            )
        while True:
            try:
                done = clock.tick()
            except Exception:
                # A database restart, an audit outage, anything: the clock goes on.
                log.exception("access clock pass failed", extra={"event": "access.clock"})
                close_old_connections()
            else:
                if once:
                    self.stdout.write(" ".join(f"{k}={v}" for k, v in asdict(done).items()))
                    return
                # A heartbeat is queued nearly every pass: not news.
                if any(v for k, v in asdict(done).items() if k != "heartbeats"):
                    log.info("access clock", extra={"event": "access.clock", **asdict(done)})
            if once:
                return
            time.sleep(settings.ACCESS_CLOCK_SECONDS)
