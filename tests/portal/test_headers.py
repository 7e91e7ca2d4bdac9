"""Security headers on every kind of response, and a clean `check --deploy`."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from tests.conftest import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def https(settings, world):
    # whitenoise reads its settings when a client builds the middleware: set them first.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    return Client()


def page(client, world):
    client.force_login(world.bob)
    return client.get("/", secure=True)


def not_found(client, world):
    return client.get("/no-such-page/", secure=True)


def locked_out(client, world):
    for _ in range(5):
        client.post("/login/", {"username": "bob", "password": "wrong"}, secure=True)
    return client.post("/login/", {"username": "bob", "password": "wrong"}, secure=True)


def server_error(client, world):
    client.raise_request_exception = False
    client.force_login(world.bob)
    return client.get("/", secure=True)


def static_file(client, world):
    return client.get("/static/portal/portal.css", secure=True)


def login_page(client, world):
    return client.get("/login/", secure=True)


KINDS = {
    "page": (page, 200),
    "login": (login_page, 200),
    "404": (not_found, 404),
    "429": (locked_out, 429),
    "500": (server_error, 500),
    "static": (static_file, 200),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_response_kind_carries_the_headers(https, world, monkeypatch, kind):
    make, status = KINDS[kind]
    if kind == "500":

        def crash(user):
            raise RuntimeError("forced")

        monkeypatch.setattr("federation.services.usable_grants", crash)
    response = make(https, world)
    assert response.status_code == status
    csp = response["Content-Security-Policy"]
    for directive in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
    ]:
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    # Never a Referer to another origin (no-referrer would make browsers send Origin: null
    # on the portal's own forms, and CSRF protection would refuse every sign-in).
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    max_age = int(response["Strict-Transport-Security"].split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000
    assert response["X-Request-ID"]
    if kind != "static":
        assert response["X-Frame-Options"] == "DENY"
    if kind in {"page", "500", "429"}:
        assert "no-store" in response["Cache-Control"]
    if kind in {"404", "500"}:
        assert response["X-Request-ID"].encode() in response.content


def test_signed_in_pages_are_never_cached(client, world):
    client.force_login(world.alice)
    for path in [
        "/",
        "/tokens/",
        "/audit/",
        "/admin/",
        "/account/two-factor/",
        "/requests/",
        "/approvals/",
    ]:
        assert "no-store" in client.get(path)["Cache-Control"], path


def test_it_redirects_plain_http_in_production(world):
    assert django_settings.SECURE_SSL_REDIRECT is False  # the suite's own setting
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "",
    }
    env.pop("SECURE_SSL_REDIRECT")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django,os;os.environ['DJANGO_SETTINGS_MODULE']="
            "'portal.settings';django.setup();from django.conf import settings;"
            "print(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["True", "31536000"]


def run_check(**overrides):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "portal.example.com",
        "AWS_PORTAL_SANDBOX": "false",
        **overrides,
    }
    env.pop("SECURE_SSL_REDIRECT", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_check()
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_sandbox_left_on():
    result = run_check(AWS_PORTAL_SANDBOX="true")
    assert result.returncode != 0
    assert "portcullis.W001" in result.stderr
