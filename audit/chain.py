"""Tamper evidence for the audit trail, in the manner of CloudTrail's digest chain.

Every record holds a sequence number, the hash of the previous record and its own hash:
HMAC-SHA256 of its canonical content (which includes both), under AUDIT_CHAIN_KEY, a key
that lives outside the database, named on the record by its key id so the key can be
rotated. Inserts are serialised, so two workers can never give two records the same
predecessor, and database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
Someone who can write to the database can drop the triggers and edit rows, but without
the key cannot make the hashes match again: `verify_audit` names the first record that
breaks. A tail cut off the end shows against the head the portal writes to its log.

Records written before the chain was keyed carry plain SHA-256 and no key id. They form a
prefix that the migration sealed with a keyed record (`audit.keyed`) whose previous hash is
the old head; no unkeyed record may follow a keyed one.
"""

import functools
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.db import connections

GENESIS_HASH = "0" * 64
# After a new key signs its first record, how long the old key may still sign (workers
# restarting one by one after a key rotation).
ROTATION_GRACE = timedelta(minutes=5)
# Any constant: the key of the PostgreSQL advisory lock that serialises audit inserts.
ADVISORY_LOCK_KEY = 0x706F7274  # "port"

# What the hash covers: these columns, and from content version 2 on the actor's id too
# (records written before it was covered keep content version 1, and verify as they did; no
# record of version 1 may follow one of version 2).
CONTENT_VERSION = 2
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
# What a record of CONTENT_VERSION covers.
HASHED_FIELDS_NOW = [*HASHED_FIELDS, "actor_id", "content_version"]


def canonical(event: Any) -> bytes:
    """The record's content as bytes: sorted-key JSON, times in UTC with microseconds.

    A keyed record's key id is part of it, and from content version 2 on the actor's id and
    the version itself; an older record's content is as it was.
    """
    key_id = getattr(event, "key_id", "")
    content: dict[str, Any] = {"key_id": key_id} if key_id else {}
    version = getattr(event, "content_version", 1)
    for name in HASHED_FIELDS_NOW if version >= 2 else HASHED_FIELDS:
        value = getattr(event, name)
        if name == "created_at":
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif name == "client_ip" and value:
            # PostgreSQL's inet may spell an address differently from how it was written.
            value = ipaddress.ip_address(value).exploded
        content[name] = value
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class UnknownKey(Exception):
    """A record names a key id this portal does not hold."""


@functools.lru_cache(maxsize=16)
def key_id_of(key: str) -> str:
    """A short public name for a key: it tells keys apart without revealing them."""
    return "k" + hashlib.sha256(b"portcullis audit chain key id\0" + key.encode()).hexdigest()[:11]


def chain_keys() -> dict[str, str]:
    """{key id: key}, oldest first: the retired keys kept for verifying (AUDIT_CHAIN_OLD_KEYS,
    oldest first), then the current key."""
    keys = [*settings.AUDIT_CHAIN_OLD_KEYS, settings.AUDIT_CHAIN_KEY]
    return {key_id_of(key): key for key in keys if key}


def current_key_id() -> str:
    return key_id_of(settings.AUDIT_CHAIN_KEY)


def digest(event: Any, keys: dict[str, str] | None = None) -> str:
    """The record's hash: HMAC-SHA256 under the key its key id names (plain SHA-256 for a
    record from before the chain was keyed). Raises UnknownKey."""
    key_id = getattr(event, "key_id", "")
    if not key_id:
        return hashlib.sha256(canonical(event)).hexdigest()
    key = (keys if keys is not None else chain_keys()).get(key_id)
    if key is None:
        raise UnknownKey(key_id)
    return hmac.new(key.encode(), canonical(event), hashlib.sha256).hexdigest()


LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
# The same, with the transaction's commit not waiting for the disk: one round trip, not two.
LOCK_RELAXED_SQL = "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(%s)"


def lock_chain(using: str, *, relaxed: bool = False) -> None:
    """Serialise inserts until the surrounding transaction ends; `relaxed`: its commit does
    not wait for the disk (PostgreSQL's `SET LOCAL synchronous_commit = off`).

    PostgreSQL: a transaction-level advisory lock. SQLite: the transaction already holds the
    database's write lock from its first statement (transaction_mode IMMEDIATE).
    """
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(LOCK_RELAXED_SQL if relaxed else LOCK_SQL, [ADVISORY_LOCK_KEY])


HEAD_SQL = "SELECT sequence, hash FROM federation_auditevent ORDER BY sequence DESC LIMIT 1"


def head(using: str) -> tuple[int, str] | None:
    """The newest record's sequence number and hash (None: the trail is empty). Called with
    the chain locked, on every record written: plain SQL on the sequence's unique index."""
    with connections[using].cursor() as cursor:
        cursor.execute(HEAD_SQL)
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


# --- triggers -----------------------------------------------------------------------------

TABLE = "federation_auditevent"
MESSAGE = "the audit trail is append-only"


def _only_actor_cleared(
    columns: Sequence[str], new: str = "NEW", old: str = "OLD", same: str = "IS"
) -> str:
    # Deleting a user set actor_id to NULL (on_delete=SET_NULL): the one update allowed.
    others = " AND ".join(f"{new}.{c} {same} {old}.{c}" for c in columns if c != "actor_id")
    return f"{new}.actor_id IS NULL AND {others}"


def install_triggers(
    schema_editor: Any, columns: Sequence[str], *, actor_may_be_cleared: bool = False
) -> None:
    """Refuse UPDATE, DELETE and TRUNCATE. `actor_may_be_cleared`: an UPDATE that only sets
    actor_id to NULL goes through, as deleting an account did until the hash covered the
    actor's id (the migrations of that time install these triggers so)."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        allowed = _only_actor_cleared(columns) if actor_may_be_cleared else "0"
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
            f"WHEN NOT ({allowed}) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
    elif vendor == "postgresql":
        allowed = (
            _only_actor_cleared(columns, same="IS NOT DISTINCT FROM")
            if actor_may_be_cleared
            else "FALSE"
        )
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


def drop_triggers(schema_editor_or_connection: Any) -> None:
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


def verify(
    events: Iterable[Any],
    *,
    saved_head: tuple[int, str] | None = None,
    keys: dict[str, str] | None = None,
) -> tuple[int, tuple[int, str] | None, str | None]:
    """Walk the chain in sequence order. Returns (records checked, head, problem or None).

    `saved_head` is a (sequence, hash) exported earlier (or read from the portal's log):
    the chain must still pass through it, which catches records cut off the end.
    """
    keys = chain_keys() if keys is None else keys
    # Keys take over from one another in order: once a record is signed with a key, a later
    # record may carry an older one only within ROTATION_GRACE (workers restarting one by
    # one), so a retired, perhaps leaked, key can rewrite nothing written after that.
    rank = {key_id: position for position, key_id in enumerate(keys)}
    previous_hash, expected_sequence, head, keyed = GENESIS_HASH, 1, None, False
    newest, took_over_at, newest_version = -1, None, 1
    for event in events:
        label = f"record #{event.sequence} (id {event.pk})"
        good = expected_sequence - 1
        if event.sequence != expected_sequence:
            problem = f"expected #{expected_sequence}: a record was deleted or reordered"
            return good, head, f"{label}: {problem}"
        if event.prev_hash != previous_hash:
            return good, head, f"{label}: does not follow the record before it"
        if keyed and not event.key_id:
            return good, head, f"{label}: has no key after keyed records, so it was rewritten"
        version = getattr(event, "content_version", 1)
        if version < newest_version:
            problem = "covers less than the records before it (no actor), so it was rewritten"
            return good, head, f"{label}: {problem}"
        if (
            event.key_id
            and rank.get(event.key_id, newest) < newest
            and took_over_at is not None
            and event.created_at > took_over_at + ROTATION_GRACE
        ):
            problem = f"signed with retired key {event.key_id} after a newer key took over"
            return good, head, f"{label}: {problem}"
        try:
            matches = hmac.compare_digest(digest(event, keys), event.hash)
        except UnknownKey:
            problem = (
                f"signed with key {event.key_id}, which this portal does not hold "
                "(keep retired keys in AUDIT_CHAIN_OLD_KEYS)"
            )
            return good, head, f"{label}: {problem}"
        if not matches:
            return good, head, f"{label}: content does not match its hash"
        if saved_head and event.sequence == saved_head[0] and event.hash != saved_head[1]:
            return good, head, f"{label}: differs from the saved head"
        keyed = keyed or bool(event.key_id)
        newest_version = max(newest_version, version)
        if rank.get(event.key_id, -1) > newest:
            newest, took_over_at = rank[event.key_id], event.created_at
        previous_hash, head = event.hash, (event.sequence, event.hash)
        expected_sequence += 1
    checked = expected_sequence - 1
    if checked and not keyed:
        # A keyed trail ends in keyed records (the migration seals older ones with one).
        return checked, head, "no record carries a key: the trail was rewritten without it"
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
