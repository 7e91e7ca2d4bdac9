"""The tamper-evident audit trail: the hash chain, the triggers and verify_audit."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from audit import chain as audit_chain
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def verify(*args):
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue().strip()


def broken(*args):
    with pytest.raises(CommandError) as error:
        verify(*args)
    return str(error.value)


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def tenant():
    # A tenant with nobody in it yet: adding people would itself write audit records.
    return TenantFactory(slug="acme")


@pytest.fixture
def trail(tenant):
    person = UserFactory(username="bob")
    return [
        record(
            "console.issued",
            actor=person,
            tenant=tenant,
            meta=RequestMeta(client_ip=ip),
            detail=f"record {n}",
        )
        for n, ip in enumerate(["127.0.0.1", "::1", "2001:DB8::1", "::ffff:10.0.0.1", ""], 1)
    ]


@pytest.fixture
def attacker():
    """Someone with database access: first they drop the triggers."""
    audit_chain.drop_triggers(connection)


def test_it_chains_every_record_to_the_one_before(trail):
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit_chain.GENESIS_HASH
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    # The hash is of the stored content, as read back (IPv6 spelt however the DB spells it).
    assert all(audit_chain.digest(e) == e.hash for e in events)
    assert verify() == f"audit trail intact: 5 record(s), head #5 {events[-1].hash}"


def test_it_prints_the_head_for_safekeeping(trail):
    last = AuditEvent.objects.order_by("sequence").last()
    assert verify("--head") == f"5:{last.hash}"
    assert verify("--saved-head", f"5:{last.hash}").startswith("audit trail intact")


def test_the_database_refuses_to_change_or_delete_records(trail):
    if connection.vendor == "postgresql":
        # TRUNCATE waits for no deferred constraint checks of this test's own inserts.
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    for statement in [
        "UPDATE federation_auditevent SET detail = 'nothing happened'",
        "UPDATE federation_auditevent SET actor_id = NULL",
        "DELETE FROM federation_auditevent WHERE sequence = 2",
    ] + (["TRUNCATE federation_auditevent"] if connection.vendor == "postgresql" else []):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            sql(statement)
    assert AuditEvent.objects.count() == 5


def test_deleting_a_person_keeps_their_records_and_the_chain(tenant, trail):
    person = UserFactory(username="leaver")
    record("login.failed", actor=person, tenant=tenant)
    account_id = person.pk
    person.delete()
    kept = AuditEvent.objects.get(action="login.failed")
    # The record still names the account it was (its id is never given again) and the person.
    assert (kept.actor_id, kept.actor_username) == (account_id, "leaver")
    assert verify().startswith("audit trail intact: 6 record(s)")


def test_the_hash_covers_who_did_it(trail, attacker):
    someone_else = UserFactory(username="mallory")
    sql("UPDATE federation_auditevent SET actor_id = %s WHERE sequence = 3", [someone_else.pk])
    message = broken()
    assert "record #3" in message and "content does not match its hash" in message


def test_a_record_cannot_be_passed_off_as_one_from_before_the_actor_was_covered(trail, attacker):
    """Records written before the hash covered the actor's id verify without it; one
    written since cannot be made to look like them: its hash no longer matches, and even
    hashed anew as such it follows records that covered more."""
    sql("UPDATE federation_auditevent SET content_version = 1 WHERE sequence = 1")
    message = broken()
    assert "record #1" in message and "content does not match its hash" in message

    sql("UPDATE federation_auditevent SET content_version = 1 WHERE sequence = 3")
    rewritten = AuditEvent.objects.get(sequence=3)
    sql(
        "UPDATE federation_auditevent SET content_version = 2 WHERE sequence = 1",
    )
    sql(
        "UPDATE federation_auditevent SET hash = %s WHERE sequence = 3",
        [audit_chain.digest(rewritten)],
    )
    message = broken()
    assert "record #3" in message and "covers less than the records before it" in message


def test_it_names_an_edited_record(trail, attacker):
    sql("UPDATE federation_auditevent SET detail = 'nothing happened' WHERE sequence = 3")
    message = broken()
    assert "after 2 good record(s)" in message
    assert "record #3" in message and "content does not match its hash" in message


def test_it_names_a_record_edited_with_its_hash_recomputed(trail, attacker):
    event = AuditEvent.objects.get(sequence=3)
    event.actor_username = "someone-else"
    sql(
        "UPDATE federation_auditevent SET actor_username = %s, hash = %s WHERE sequence = 3",
        ["someone-else", audit_chain.digest(event)],
    )
    assert "record #4 (id" in broken() and "does not follow the record before it" in broken()


def test_it_names_the_record_after_a_deleted_one(trail, attacker):
    sql("DELETE FROM federation_auditevent WHERE sequence = 2")
    assert "record #3" in broken() and "expected #2" in broken()


def test_it_names_reordered_records(trail, attacker):
    sql("UPDATE federation_auditevent SET sequence = -1 WHERE sequence = 2")
    sql("UPDATE federation_auditevent SET sequence = 2 WHERE sequence = 3")
    sql("UPDATE federation_auditevent SET sequence = 3 WHERE sequence = -1")
    assert "record #2" in broken()


def test_it_notices_records_cut_off_the_end_against_a_saved_head(trail, attacker):
    head = verify("--head")
    sql("DELETE FROM federation_auditevent WHERE sequence >= 4")
    assert verify().startswith("audit trail intact: 3 record(s)")  # the chain alone cannot tell
    message = broken("--saved-head", head)
    assert "ends at #3, before the saved head #5" in message


def test_it_refuses_a_malformed_saved_head(trail):
    assert "SEQUENCE:HASH" in broken("--saved-head", "five")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain(tenant):
    if connection.vendor != "postgresql":
        pytest.skip("the concurrency that matters is PostgreSQL's (SQLite has one writer)")
    writers, each = 4, 25
    start = threading.Barrier(writers)
    errors = []

    def write(n):
        try:
            start.wait()
            for i in range(each):
                record("console.issued", tenant=tenant, detail=f"{n}-{i}")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * each + 1))
    prev_hashes = AuditEvent.objects.values_list("prev_hash", flat=True)
    assert len(set(prev_hashes)) == writers * each  # no two records share a predecessor
    assert verify().startswith(f"audit trail intact: {writers * each} record(s)")


# --- the key: someone with the database and the code, but not AUDIT_CHAIN_KEY -------------


def rewrite_from(sequence, change, *, key_id=None, key=None):
    """What an attacker does: change one record, then recompute every later hash with the
    project's own code, under a key of their choosing (or without one)."""
    keys = {key_id: key} if key_id else {}
    previous = AuditEvent.objects.get(sequence=sequence - 1).hash if sequence > 1 else None
    for event in AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
        if event.sequence == sequence:
            change(event)
        if previous is not None:
            event.prev_hash = previous
        event.key_id = key_id or ""
        event.hash = previous = audit_chain.digest(event, keys)
        sql(
            "UPDATE federation_auditevent SET actor_username = %s, detail = %s, prev_hash = %s, "
            "key_id = %s, hash = %s WHERE id = %s",
            [
                event.actor_username,
                event.detail,
                event.prev_hash,
                event.key_id,
                event.hash,
                event.pk,
            ],
        )


def hide_bob(event):
    event.actor_username = "someone-else"


def test_every_record_is_keyed_with_the_current_key(trail):
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {
        audit_chain.current_key_id()
    }


def test_an_attacker_without_the_key_cannot_recompute_the_chain(trail, attacker):
    # Plain SHA-256, the way the chain was hashed before it was keyed.
    rewrite_from(3, hide_bob)
    message = broken()
    assert "record #3" in message
    # Under a key they made up, named with the real key's id.
    rewrite_from(3, hide_bob, key_id=audit_chain.current_key_id(), key="guessed")
    assert "record #3" in broken() and "content does not match its hash" in broken()
    # Every record rewritten as unkeyed, from the first.
    rewrite_from(1, hide_bob)
    assert "no record carries a key" in broken()


def test_with_the_key_the_same_rewrite_would_pass(trail, attacker, settings):
    # The control: the attack fails for want of the key, not for a flaw in rewrite_from().
    key = settings.AUDIT_CHAIN_KEY
    rewrite_from(3, hide_bob, key_id=audit_chain.key_id_of(key), key=key)
    assert verify().startswith("audit trail intact: 5 record(s)")


def test_a_rotated_key_still_verifies_the_records_it_signed(trail, settings):
    old = settings.AUDIT_CHAIN_KEY
    settings.AUDIT_CHAIN_KEY = "the-new-audit-chain-key-for-this-test-0123456789"
    settings.AUDIT_CHAIN_OLD_KEYS = [old]
    record("console.issued", detail="after the rotation")
    ids = list(AuditEvent.objects.order_by("sequence").values_list("key_id", flat=True))
    assert ids[:5] == [audit_chain.key_id_of(old)] * 5
    assert ids[5] == audit_chain.key_id_of(settings.AUDIT_CHAIN_KEY)
    assert verify().startswith("audit trail intact: 6 record(s)")
    settings.AUDIT_CHAIN_OLD_KEYS = []
    message = broken()
    assert f"signed with key {audit_chain.key_id_of(old)}" in message
    assert "AUDIT_CHAIN_OLD_KEYS" in message


def test_the_log_carries_the_head_to_catch_a_cut_off_tail(trail, attacker, caplog):
    with caplog.at_level("INFO", logger="audit"):
        call_command("audit_heartbeat", "--count", "1", "--every", "0")
    (line,) = [r for r in caplog.records if getattr(r, "event", "") == "audit.head"]
    head = f"{line.sequence}:{line.hash}"
    last = AuditEvent.objects.order_by("sequence").last()
    assert head == f"5:{last.hash}"
    sql("DELETE FROM federation_auditevent WHERE sequence >= 4")
    assert "before the saved head #5" in broken("--saved-head", head)


def test_every_audit_log_line_names_the_head_after_it(tenant, caplog):
    with caplog.at_level("INFO", logger="audit"):
        event = record("console.issued", tenant=tenant)
    (line,) = [r for r in caplog.records if getattr(r, "event", "") == "console.issued"]
    assert (line.sequence, line.hash) == (event.sequence, event.hash)


def test_a_retired_key_cannot_sign_after_its_successor_took_over(trail, settings):
    old = settings.AUDIT_CHAIN_KEY
    settings.AUDIT_CHAIN_KEY = "the-new-audit-chain-key-for-this-test-0123456789"
    settings.AUDIT_CHAIN_OLD_KEYS = [old]
    record("console.issued", detail="the new key's first record")
    # A worker not yet restarted still signs with the old key: fine for a few minutes.
    settings.AUDIT_CHAIN_KEY = old
    record("console.issued", detail="an old worker, just after the rotation")
    settings.AUDIT_CHAIN_KEY = "the-new-audit-chain-key-for-this-test-0123456789"
    assert verify().startswith("audit trail intact: 7 record(s)")
    # Later, whoever holds the retired key signs a record with it: refused.
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        settings.AUDIT_CHAIN_KEY = old
        record("console.issued", detail="written with a leaked, retired key")
        settings.AUDIT_CHAIN_KEY = "the-new-audit-chain-key-for-this-test-0123456789"
    message = broken()
    assert "record #8" in message and "retired key" in message
