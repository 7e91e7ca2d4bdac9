import re
from contextlib import closing

from django.core.management.base import BaseCommand, CommandError

from audit import chain as audit_chain
from audit.models import AuditEvent

HEAD_RE = re.compile(r"^(\d+):([0-9a-f]{64})$")


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain from the first record to the last. Exits 0 when "
        "it is intact, 1 naming the first broken record. --head prints the current head "
        "(sequence:hash) to keep somewhere else; --saved-head checks the trail still reaches it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--head", action="store_true", help="print the head as SEQUENCE:HASH and nothing else"
        )
        parser.add_argument(
            "--saved-head",
            metavar="SEQUENCE:HASH",
            help="a head printed earlier by --head: the trail must still pass through it",
        )

    def handle(self, *args, head, saved_head, **options):
        saved = None
        if saved_head:
            match = HEAD_RE.match(saved_head.strip())
            if not match:
                raise CommandError("--saved-head is SEQUENCE:HASH, as printed by --head")
            saved = (int(match[1]), match[2])
        # Closed at once even when the walk stops early: on PostgreSQL it is a server cursor.
        with closing(AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000)) as events:
            checked, last, problem = audit_chain.verify(events, saved_head=saved)
        if problem:
            raise CommandError(f"audit trail broken after {checked} good record(s): {problem}")
        if head:
            self.stdout.write(f"{last[0]}:{last[1]}" if last else f"0:{audit_chain.GENESIS_HASH}")
            return
        self.stdout.write(
            f"audit trail intact: {checked} record(s)"
            + (f", head #{last[0]} {last[1]}" if last else "")
        )
