"""What the audit trail times and counts: writing a record, and failed deliveries to SIEMs."""

from prometheus_client import Counter, Histogram

from core.metrics import FAST_BUCKETS

AUDIT_WRITES = Histogram(
    "portcullis_audit_write_seconds",
    "Writing one audit record, the commit included",
    buckets=FAST_BUCKETS,
)
STREAM_FAILURES = Counter(
    "portcullis_audit_stream_failures",
    "Failed attempts to deliver audit records to a SIEM sink",
    ["kind"],
)
