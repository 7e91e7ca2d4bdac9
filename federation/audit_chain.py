"""Tamper evidence for the audit trail, in the manner of CloudTrail's digest chain.

Every record holds a sequence number, the SHA-256 of the previous record and the SHA-256
of its own canonical content (which includes both). Inserts are serialised, so two
workers can never give two records the same predecessor, and database triggers refuse
UPDATE and DELETE (and TRUNCATE on PostgreSQL). Someone with enough database access to drop
the triggers can still edit rows, but not without `verify_audit` noticing: an edited,
deleted or reordered record breaks the chain from that point, and a cut-off tail shows
against a head hash kept elsewhere.
"""

import hashlib
import ipaddress
import json
from datetime import UTC

from django.db import connections

GENESIS_HASH = "0" * 64
# Any constant: the key of the PostgreSQL advisory lock that serialises audit inserts.
ADVISORY_LOCK_KEY = 0x706F7274  # "port"

# What the hash covers. Not the actor's id: it is set to NULL when the account is deleted,
# which the triggers allow, and the copied username already names the person.
HASHED_FIELDS = [
    "sequence",
    "prev_hash",
    "created_at",
    "tenant_id",
    "actor_username",
    "action",
    "mapping_id",
    "role_arn",
    "role_session_name",
    "source_identity",
    "duration_seconds",
    "client_ip",
    "user_agent",
    "request_id",
    "aws_request_id",
    "assumed_role_arn",
    "error_code",
    "detail",
]


def canonical(event):
    """The record's content as bytes: sorted-key JSON, times in UTC with microseconds."""
    content = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if name == "created_at":
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif name == "client_ip" and value:
            # PostgreSQL's inet may spell an address differently from how it was written.
            value = ipaddress.ip_address(value).exploded
        content[name] = value
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(event):
    return hashlib.sha256(canonical(event)).hexdigest()


def lock_chain(using):
    """Serialise inserts until the surrounding transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: the transaction already holds the
    database's write lock from its first statement (transaction_mode IMMEDIATE).
    """
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


# --- triggers -----------------------------------------------------------------------------

TABLE = "federation_auditevent"
MESSAGE = "the audit trail is append-only"


def _only_actor_cleared(columns, new="NEW", old="OLD", same="IS"):
    # Deleting a user sets actor_id to NULL (on_delete=SET_NULL): the one update allowed.
    others = " AND ".join(f"{new}.{c} {same} {old}.{c}" for c in columns if c != "actor_id")
    return f"{new}.actor_id IS NULL AND {others}"


def install_triggers(schema_editor, columns):
    """Refuse UPDATE (except clearing a deleted actor), DELETE and TRUNCATE."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
            f"WHEN NOT ({_only_actor_cleared(columns)}) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
    elif vendor == "postgresql":
        allowed = _only_actor_cleared(columns, same="IS NOT DISTINCT FROM")
        schema_editor.execute(
            f"""CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND ({allowed}) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END $$"""
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"
        )


def drop_triggers(schema_editor_or_connection):
    """What an attacker with database access does first (and the test suite's flush)."""
    conn = schema_editor_or_connection
    if not hasattr(conn, "vendor"):  # a schema editor
        conn = conn.connection
    statements = {
        "sqlite": [
            f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
            f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
        ],
        "postgresql": [
            f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}",
            f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
        ],
    }.get(conn.vendor, [])
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def verify(events, *, saved_head=None):
    """Walk the chain in sequence order. Returns (records checked, head, problem or None).

    `saved_head` is a (sequence, hash) exported earlier: the chain must still pass through
    it, which catches records cut off the end.
    """
    previous_hash, expected_sequence, head = GENESIS_HASH, 1, None
    for event in events:
        label = f"record #{event.sequence} (id {event.pk})"
        if event.sequence != expected_sequence:
            problem = f"expected #{expected_sequence}: a record was deleted or reordered"
            return expected_sequence - 1, head, f"{label}: {problem}"
        if event.prev_hash != previous_hash:
            return expected_sequence - 1, head, f"{label}: does not follow the record before it"
        if digest(event) != event.hash:
            return expected_sequence - 1, head, f"{label}: content does not match its hash"
        if saved_head and event.sequence == saved_head[0] and event.hash != saved_head[1]:
            return expected_sequence - 1, head, f"{label}: differs from the saved head"
        previous_hash, head = event.hash, (event.sequence, event.hash)
        expected_sequence += 1
    checked = expected_sequence - 1
    if saved_head and checked < saved_head[0]:
        return (
            checked,
            head,
            (
                f"the trail ends at #{checked}, before the saved head #{saved_head[0]}: "
                "records were removed from its end"
            ),
        )
    return checked, head, None
