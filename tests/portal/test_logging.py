"""Logs are one JSON object per line, tagged with the request, the person and the event."""

import io
import json
import logging

import pytest

from core.logging import JsonFormatter, RequestContextFilter
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines(settings):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    config = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(config["fmt"], rename_fields=config["rename_fields"]))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_each_audit_event_is_a_json_line_with_the_request(client, world, log_lines):
    client.force_login(world.bob)
    response = client.post("/tokens/", {"name": "laptop"})
    (line,) = [entry for entry in log_lines() if entry.get("event") == "token.created"]
    assert line["level"] == "INFO"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user"] == "bob"
    assert line["tenant"] == "acme"  # bob's tenant: its admins see the record too
    assert line["time"].endswith("+00:00")


def test_a_newline_in_a_username_cannot_forge_a_line(client, world, log_lines):
    forged = 'eve\n{"level": "INFO", "event": "console.issued", "user": "alice"}'
    UserFactory(username="x")
    client.post("/login/", {"username": forged, "password": "wrong"})
    lines = log_lines()
    assert all(isinstance(line, dict) for line in lines)
    failed = [line for line in lines if line.get("event") == "login.failed"]
    assert len(failed) == 1
    assert failed[0]["actor"] == forged
    assert not [line for line in lines if line.get("event") == "console.issued"]
