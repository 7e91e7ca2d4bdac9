import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import PASSWORD, Client

pytestmark = pytest.mark.django_db


def sign_in(client, username, password=PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def fail(client, username, times, **extra):
    """Fail `times` sign-ins and return the status codes the portal answered with."""
    return [sign_in(client, username, "wrong password", **extra).status_code for _ in range(times)]


def test_it_shows_the_sign_in_page(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'<label for="id_username">' in response.content
    assert b'autocomplete="current-password"' in response.content


def test_it_signs_in_and_lands_on_my_roles(client, world):
    response = sign_in(client, "bob")
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b'Signed in as <a href="/account/" title="Your account"><strong>bob</strong></a>' in (
        page.content
    )
    assert b"Acme" in page.content


def test_it_signs_in_whatever_the_letter_case(client, world):
    response = sign_in(client, "BoB")
    assert response.status_code == 302
    assert client.get("/").context["user"] == world.bob


def test_it_refuses_a_wrong_password(client, world):
    response = sign_in(client, "bob", "nope")
    assert response.status_code == 200
    assert b"Usernames are not case-sensitive; passwords are." in response.content
    assert "_auth_user_id" not in client.session


def test_an_empty_sign_in_form_says_what_is_missing(client, world):
    empty = sign_in(client, "", "")
    assert empty.status_code == 200
    assert "Enter your username and password, or your work e-mail address" in (
        empty.content.decode()
    )

    no_password = sign_in(client, "bob", "")
    assert "Enter your password." in no_password.content.decode()
    assert 'value="bob"' in no_password.content.decode()
    # Nothing was tried: nothing counts towards a lockout.
    assert not AccessAttempt.objects.exists()


def test_a_malformed_company_address_is_a_form_error_that_keeps_what_was_typed(client, world):
    response = client.post("/login/", {"email": "dave@acme"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "That is not an e-mail address" in page
    assert 'value="dave@acme"' in page and 'aria-invalid="true"' in page
    # No sign-in was tried: no failure recorded or counted against anyone.
    assert not AuditEvent.objects.filter(action__startswith="login.").exists()
    assert not AccessAttempt.objects.exists()


def test_the_company_sign_in_failure_page_names_the_request_id(client, world):
    response = client.post("/login/", {"email": "someone@unknown.example"})

    assert response.status_code == 403
    assert f'Request ID: <span class="mono">{response["X-Request-ID"]}</span>' in (
        response.content.decode()
    )


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_it_signs_out_only_by_post(client, world):
    client.force_login(world.bob)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_it_still_signs_in_after_four_failures(client, world):
    fail(client, "bob", 4)
    assert sign_in(client, "bob").status_code == 302


def test_it_locks_out_after_five_failures(client, world):
    assert fail(client, "bob", 5) == [200, 200, 200, 200, 429]
    response = sign_in(client, "bob")
    assert response.status_code == 429
    assert b"Too many sign-in attempts" in response.content
    assert b'<a href="/login/">Back to sign-in</a>' in response.content
    assert "_auth_user_id" not in client.session


def test_it_counts_bob_and_BOB_together(client, world):
    assert fail(client, "Bob", 2) + fail(client, "BOB", 2) == [200] * 4
    assert fail(client, "bob", 1) == [429]
    # Different address, same person: the username counter alone trips the lock.
    response = sign_in(client, "bOb", REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 429
    assert AccessAttempt.objects.values_list("username", flat=True).distinct().count() == 1


def test_a_colleague_behind_the_same_address_signs_in_while_one_is_locked(client, world):
    # One office, one NAT address: bob's typos lock bob, not alice.
    assert fail(client, "bob", 5) == [200, 200, 200, 200, 429]
    assert sign_in(client, "bob").status_code == 429
    assert sign_in(client, "alice").status_code == 302


def test_it_locks_a_person_after_ten_failures_spread_over_addresses(client, world):
    for n in range(9):
        assert fail(client, "bob", 1, REMOTE_ADDR=f"198.51.100.{n}") == [200]
    assert sign_in(client, "bob", REMOTE_ADDR="192.0.2.1").status_code == 302
    client.post("/logout/")
    for n in range(10):
        fail(client, "bob", 1, REMOTE_ADDR=f"203.0.113.{n}")
    assert sign_in(client, "bob", REMOTE_ADDR="192.0.2.1").status_code == 429


def spray(client, count, **extra):
    return [sign_in(client, f"victim{n}", "Summer2026!", **extra).status_code for n in range(count)]


def test_it_refuses_an_address_that_sprays_forty_usernames_before_the_end(client, world):
    codes = spray(client, 40, REMOTE_ADDR="203.0.113.9")
    assert codes[:29] == [200] * 29
    assert set(codes[30:]) == {429}
    assert sign_in(client, "bob", REMOTE_ADDR="203.0.113.9").status_code == 429
    # Bob himself, from his own address, is not locked out by someone else's spraying.
    assert sign_in(client, "bob", REMOTE_ADDR="198.51.100.1").status_code == 302


def test_it_never_locks_an_address_at_five_failures(client, world):
    for name in ["u1", "u2", "u3", "u4", "u5", "u6"]:
        sign_in(client, name, "guess", REMOTE_ADDR="203.0.113.9")
    assert sign_in(client, "bob", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_it_ignores_a_forged_forwarded_for_header(client, world):
    for n in range(30):
        sign_in(client, f"guess{n}", "x", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert sign_in(client, "bob", HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429


def test_it_trusts_forwarded_for_only_from_configured_proxies(client, world, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(30):
        # The client forges the left part; the proxy appends the real address.
        sign_in(client, f"g{n}", "x", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 203.0.113.50")
    assert sign_in(client, "bob", HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429
    assert sign_in(client, "bob", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.51").status_code == 302


def test_it_shows_the_same_lockout_page_for_unknown_users(client, world):
    fail(client, "bob", 5)
    known = sign_in(client, "bob")
    fail(client, "nobody-here", 5, REMOTE_ADDR="198.51.100.7")
    unknown = sign_in(client, "nobody-here", REMOTE_ADDR="198.51.100.7")
    assert known.status_code == unknown.status_code == 429

    def page(response):  # the same apart from each request's own id
        return re.sub(rb"[0-9a-f]{32}", b"ID", response.content)

    assert page(known) == page(unknown)
    assert b"bob" not in known.content


def test_it_lifts_the_lockout_after_the_cool_off(client, world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail(client, "bob", 5)
        assert sign_in(client, "bob").status_code == 429
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert sign_in(client, "bob").status_code == 429
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(client, "bob").status_code == 302


def test_it_does_not_extend_the_cool_off_on_more_failures(client, world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail(client, "bob", 5)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert sign_in(client, "bob", "still wrong").status_code == 429
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(client, "bob").status_code == 302


def test_the_password_form_shows_the_rules_and_puts_each_error_on_its_field(client, world):
    client.force_login(world.bob)
    page = client.get("/account/password/").content.decode()
    assert "at least 8 characters" in page
    short = client.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": "abc", "new_password2": "abc"},
    ).content.decode()
    old_errors = re.search(r'id="id_old_password-errors">(.*?)</div>', short, re.S)[1]
    new_errors = re.search(r'id="id_new_password1-errors">(.*?)</div>', short, re.S)[1]
    assert "incorrect" in old_errors
    assert "too short" in new_errors
    mismatch = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "a long pass phrase", "new_password2": "x"},
    ).content.decode()
    confirm_errors = re.search(r'id="id_new_password2-errors">(.*?)</div>', mismatch, re.S)[1]
    assert "didn’t match" in confirm_errors


def test_every_signed_in_page_links_my_roles_and_api_tokens(client, world):
    client.force_login(world.alice)
    for path in ["/", "/tokens/", "/audit/", "/account/two-factor/", "/account/password/"]:
        page = client.get(path).content.decode()
        assert 'href="/tokens/">API tokens</a>' in page and 'href="/">My roles</a>' in page


def test_there_is_a_favicon(settings, world):
    # whitenoise reads its settings when a client builds the middleware: set them first.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    client = Client()
    page = client.get("/login/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)[1]
    assert client.get(icon).status_code == 200
    assert client.get("/favicon.ico")["Location"] == icon


def test_a_tenant_admin_without_roles_is_shown_how_to_grant_one(client, world):
    client.force_login(world.alice)
    page = client.get("/").content.decode()
    assert "Ask a tenant admin" not in page
    assert 'href="/admin/federation/rolemapping/add/">grant a role</a>' in page
    client.force_login(world.bob)
    assert "Ask a tenant admin for access." in client.get("/").content.decode()


def test_every_spelling_that_reaches_an_account_shares_its_counter(client, world):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite matches usernames case-insensitively in ASCII only")
    # PostgreSQL's UPPER() makes "alıce" (dotless ı) the account "alice"; Python's casefold
    # does not. Five failures across both spellings are five for alice.
    assert sign_in(client, "alıce", "wrong").status_code == 200  # it does reach alice
    assert fail(client, "alıce", 2) + fail(client, "alice", 2) == [200, 200, 200, 429]
    assert sign_in(client, "alice").status_code == 429
