"""Secrets never reach the logs or the database, even with DEBUG logging on."""

import logging

import pytest
from django.core.management import call_command
from django.db import connection

from federation import aws
from tests.federation.helpers import console_url, open_console

pytestmark = pytest.mark.django_db

BROKER_SECRET = "PLANTED-broker-secret-7f3a9c"


def database_dump():
    """Every table's every row, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from introspection
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def test_it_keeps_every_secret_out_of_logs_and_database(
    client, world, bob_grant, sandbox, monkeypatch, caplog
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BROKER_SECRET)
    aws.reset_clients()
    # LOG_LEVEL=DEBUG as an operator would set it: everything at DEBUG but what settings pin.
    caplog.set_level(logging.DEBUG)
    client.force_login(world.bob)

    console = open_console(client, bob_grant)
    url = console_url(console)
    client.post(f"/cli/{bob_grant.pk}/", {"duration": "900"})
    client.post("/tokens/", {"name": "laptop"})
    # A failure after credentials were issued, with everything logged.
    sandbox.faults = {"federation": "500"}
    assert open_console(client, bob_grant).status_code == 503
    call_command("check")

    secrets = [BROKER_SECRET, url]
    for session in sandbox.sessions.values():
        secrets += [session.secret_access_key, session.session_token]
    secrets += list(sandbox.tokens)
    assert len(secrets) >= 2 + 2 * 3 + 1
    logs = caplog.text
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    assert "console.issued" in logs
    dump = database_dump()
    assert "console.issued" in dump
    for secret in secrets:
        assert secret not in logs
        assert secret not in dump


def test_it_keeps_botocore_above_debug(settings):
    assert settings.LOGGING["loggers"]["botocore"]["level"] == "WARNING"


def test_it_hides_secrets_from_the_repr_of_what_it_returns():
    credentials = aws.Credentials("ASIAEXAMPLE", "secret-part", "token-part", None)
    assert "secret-part" not in repr(credentials)
    assert "token-part" not in repr(credentials)


def test_an_error_report_after_issuance_carries_no_secret(
    client, world, bob_grant, sandbox, monkeypatch, caplog, settings, mailoutbox
):
    """A crash right after AWS handed out credentials: the log, the e-mail to the admins
    (with the frames' variables) and the database hold none of them."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BROKER_SECRET)
    aws.reset_clients()

    def crash(request, template, issued):
        raise RuntimeError("the result page failed")

    monkeypatch.setattr("federation.views._result", crash)
    client.raise_request_exception = False
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 500
    assert response["X-Request-ID"].encode() in response.content
    assert b"Nothing was issued" in response.content

    (session,) = sandbox.sessions.values()
    secrets = [BROKER_SECRET, session.secret_access_key, session.session_token, *sandbox.tokens]
    (report,) = mailoutbox
    texts = [report.body, *(body for body, _ in report.alternatives), caplog.text]
    assert "the result page failed" in report.body
    assert "********************" in report.body  # the filter was at work
    dump = database_dump()
    for secret in secrets:
        assert all(secret not in text for text in texts)
        assert secret not in dump
