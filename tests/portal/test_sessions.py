"""Sessions: timeouts, key rotation, ending other sessions, cookies, fresh sign-in to issue."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from tests.conftest import PASSWORD, Client
from tests.federation.helpers import open_console

pytestmark = pytest.mark.django_db


def sign_in(client, username="bob", password=PASSWORD):
    return client.post("/login/", {"username": username, "password": password})


def signed_out(response):
    return response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_gives_a_new_session_key_at_sign_in(client, world):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    sign_in(client)
    assert client.session.session_key != before


def test_it_ends_an_idle_session(client, world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client)
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(minutes=58), tick=False):
        assert client.get("/").status_code == 200  # 29 minutes after the last request
    with time_machine.travel(start + timedelta(minutes=89), tick=False):
        assert signed_out(client.get("/"))
        assert signed_out(client.get("/"))


def test_it_ends_any_session_twelve_hours_after_sign_in(client, world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client)
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        assert signed_out(client.get("/"))


def test_a_password_change_ends_the_other_sessions(world):
    laptop, phone = Client(), Client()
    sign_in(laptop)
    sign_in(phone)
    response = laptop.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-brand-new-Passw0rd",
            "new_password2": "a-brand-new-Passw0rd",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert signed_out(phone.get("/"))


def test_deactivation_ends_every_session(client, world):
    sign_in(client)
    world.bob.is_active = False
    world.bob.save()
    assert signed_out(client.get("/"))


def test_logout_is_on_the_server(client, world):
    sign_in(client)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/logout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert signed_out(replay.get("/"))


def test_cookies_are_host_only_secure_httponly_and_lax(client, world):
    assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"
    assert settings.CSRF_COOKIE_NAME == "__Host-csrftoken"
    response = sign_in(client)
    session = response.cookies["__Host-sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["samesite"] == "Lax"
    assert session["path"] == "/" and not session["domain"]
    csrf = Client().get("/login/").cookies["__Host-csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax" and csrf["path"] == "/"


def test_an_old_sign_in_must_be_confirmed_before_issuing(client, world, bob_grant, sandbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client)
    later = start + timedelta(hours=4, minutes=1)
    for step in range(0, 241, 20):  # in use all along: alive, just old
        with time_machine.travel(start + timedelta(minutes=step), tick=False):
            assert client.get("/").status_code == 200
    with time_machine.travel(later + timedelta(minutes=1), tick=True):
        calls = sum(sandbox.calls.values())
        response = open_console(client, bob_grant)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/confirm/")
        assert sum(sandbox.calls.values()) == calls
        wrong = client.post("/login/confirm/", {"password": "nope", "next": "/"})
        assert b"That did not match" in wrong.content
        assert (
            client.post("/login/confirm/", {"password": PASSWORD, "next": "/"}).status_code == 302
        )
        assert open_console(client, bob_grant).status_code == 200
