"""The second factor: who must have one, enrolment, codes, recovery codes and removal."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def code_for(device, at=None):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():0{device.digits}d}"


def sign_in(client, username):
    return client.post("/login/", {"username": username, "password": PASSWORD})


def enrol(client, user):
    """Set up an authenticator through the pages; returns (device, recovery codes)."""
    client.get("/account/two-factor/")
    offered = offered_device(client)
    page = client.post("/account/two-factor/", {"action": "confirm", "code": code_for(offered)})
    codes = re.findall(r"<li>([0-9a-z]{8})</li>", page.content.decode())
    return TOTPDevice.objects.get(user=user), codes


def offered_device(client):
    """The authenticator the set-up page offers this browser (its key is in the session)."""
    return TOTPDevice(key=client.session[mfa.ENROLMENT_KEY])


def test_staff_must_enrol_before_anything_else(client, world):
    sign_in(client, "alice")
    for path in ["/", "/audit/", "/admin/", "/tokens/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/account/two-factor/?next=")
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    assert b"<svg" in page.content and b'id="manual-key"' in page.content
    assert client.post("/logout/").status_code == 302


def only_signing_out(page):
    nav = page.content.decode().split('<nav aria-label="Account">')[1].split("</nav>")[0]
    return "Sign out" in nav and "<a " not in nav and "Signed in as" not in nav


def test_before_the_second_factor_the_navigation_offers_only_signing_out(client, world):
    sign_in(client, "alice")
    assert only_signing_out(client.get("/account/two-factor/"))
    enrol(client, world.alice)
    assert not only_signing_out(client.get("/"))
    client.post("/logout/")

    sign_in(client, "alice")
    assert only_signing_out(client.get("/login/verify/"))


def test_it_enrols_with_a_first_code_and_hands_out_recovery_codes(client, world):
    sign_in(client, "alice")
    key_before = client.session.session_key
    device, codes = enrol(client, world.alice)
    assert device.confirmed
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.session.session_key != key_before  # a new key once the code is given
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="mfa.enrolled", actor=world.alice).count() == 1


def test_a_wrong_first_code_enrols_nothing(client, world):
    sign_in(client, "alice")
    client.get("/account/two-factor/")
    page = client.post("/account/two-factor/", {"action": "confirm", "code": "000000"})
    assert b"That code is not right" in page.content
    assert not TOTPDevice.objects.filter(user=world.alice, confirmed=True).exists()
    assert AuditEvent.objects.get(action="login.failed").actor_username == "alice"


def test_members_need_it_only_where_their_tenant_says_so(client, world):
    sign_in(client, "bob")
    assert client.get("/").status_code == 200
    world.tenant_a.require_mfa = True
    world.tenant_a.save()
    # Checked again within a minute (not on every request).
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert client.get("/")["Location"].startswith("/account/two-factor/")
    # Carol's tenant does not require it.
    client.logout()
    sign_in(client, "carol")
    assert client.get("/").status_code == 200


def test_it_asks_for_the_code_after_the_password_every_time(client, world):
    sign_in(client, "alice")
    device, _ = enrol(client, world.alice)
    client.post("/logout/")
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        sign_in(client, "alice")
        assert client.get("/")["Location"].startswith("/login/verify/")
        key_before = client.session.session_key
        response = client.post("/login/verify/", {"code": code_for(device), "next": "/audit/"})
        assert response["Location"] == "/audit/"
        assert client.session.session_key != key_before
        assert client.get("/audit/").status_code == 200


def test_a_recovery_code_works_once(client, world):
    sign_in(client, "alice")
    _, codes = enrol(client, world.alice)
    client.post("/logout/")
    sign_in(client, "alice")
    assert client.post("/login/verify/", {"code": codes[0]}).status_code == 302
    assert client.get("/").status_code == 200
    client.post("/logout/")
    sign_in(client, "alice")
    page = client.post("/login/verify/", {"code": codes[0]})
    assert page.status_code == 200
    assert b"That code is not right" in page.content


def test_wrong_codes_count_toward_the_lockout(client, world):
    sign_in(client, "alice")
    enrol(client, world.alice)
    client.post("/logout/")
    sign_in(client, "alice")
    start = timezone.now()
    # A minute apart each, so django-otp's backoff never holds a code back.
    for n in range(4):
        with time_machine.travel(start + timedelta(minutes=n)):
            assert client.post("/login/verify/", {"code": "123456"}).status_code == 200
    with time_machine.travel(start + timedelta(minutes=4)):
        locked = client.post("/login/verify/", {"code": "123456"})
        assert locked.status_code == 429
        assert b"Too many sign-in attempts" in locked.content
        # Signed out, and the password alone does not get back in.
        assert client.get("/")["Location"].startswith("/login/")
        assert sign_in(client, "alice").status_code == 429
    wrong_codes = AuditEvent.objects.filter(
        action="login.failed", actor_username="alice", detail="wrong second-factor code"
    )
    assert wrong_codes.count() == 5
    assert AuditEvent.objects.filter(action="login.locked", actor_username="alice").exists()


def test_removal_takes_a_fresh_code(client, world):
    sign_in(client, "bob")
    device, _ = enrol(client, world.bob)
    page = client.post("/account/two-factor/", {"action": "remove", "code": "000000"})
    assert b"nothing was changed" in page.content
    assert TOTPDevice.objects.filter(user=world.bob, confirmed=True).exists()
    later = timezone.now() + timedelta(seconds=60)
    with time_machine.travel(later):
        response = client.post(
            "/account/two-factor/", {"action": "remove", "code": code_for(device, later)}
        )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=world.bob).exists()
    assert AuditEvent.objects.filter(action="mfa.removed", actor=world.bob).count() == 1


def test_new_recovery_codes_replace_the_old_ones(client, world):
    sign_in(client, "bob")
    device, old = enrol(client, world.bob)
    later = timezone.now() + timedelta(seconds=60)
    with time_machine.travel(later):
        page = client.post(
            "/account/two-factor/", {"action": "renew", "code": code_for(device, later)}
        )
    new = re.findall(r"<li>([0-9a-z]{8})</li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert b'id="codes-left">10<' in page.content


def test_each_set_up_attempt_offers_its_own_key_and_stores_nothing(client, world):
    from tests.conftest import Client

    # The real person and someone who only knows the password, in two browsers.
    intruder = Client()
    sign_in(client, "alice")
    sign_in(intruder, "alice")
    mine = client.get("/account/two-factor/")
    theirs = intruder.get("/account/two-factor/")
    key = re.compile(rb'id="manual-key">([A-Z2-7 ]+)<')
    assert key.search(mine.content)[1] != key.search(theirs.content)[1]
    assert not TOTPDevice.objects.filter(user=world.alice).exists()
    # A code from the intruder's key does not confirm the person's attempt, nor the reverse.
    page = client.post(
        "/account/two-factor/", {"action": "confirm", "code": code_for(offered_device(intruder))}
    )
    assert b"That code is not right" in page.content
    assert not TOTPDevice.objects.filter(user=world.alice).exists()
    # The page offers the same key again until it is confirmed in this browser.
    assert key.search(client.get("/account/two-factor/").content)[1] == key.search(mine.content)[1]


def test_after_an_operator_removes_a_lost_device_the_new_set_up_has_a_fresh_key(client, world):
    sign_in(client, "bob")
    old, _ = enrol(client, world.bob)
    mfa.remove_second_factor(world.bob)  # what the operator's admin action does
    client.post("/logout/")
    sign_in(client, "bob")
    client.get("/account/two-factor/")
    assert offered_device(client).key != old.key


def test_a_throttled_code_asks_to_wait_and_is_not_a_failed_sign_in(client, world):
    sign_in(client, "alice")
    device, _ = enrol(client, world.alice)
    client.post("/logout/")
    later = timezone.now() + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        sign_in(client, "alice")
        wrong = client.post("/login/verify/", {"code": "123456"})
        assert b"That code is not right" in wrong.content
        # Straight after a wrong code django-otp holds the next one back, right or not.
        held = client.post("/login/verify/", {"code": code_for(device, later)})
    assert held.status_code == 200
    assert re.search(rb"Wait \d+ seconds? before trying another code", held.content)
    assert b"That code is not right" not in held.content
    assert AuditEvent.objects.filter(action="login.failed", actor_username="alice").count() == 1
    after = later + timedelta(seconds=31)
    with time_machine.travel(after, tick=False):
        ok = client.post("/login/verify/", {"code": code_for(device, after)})
    assert ok.status_code == 302


def test_a_recovery_code_has_its_own_field_with_letters(client, world):
    sign_in(client, "alice")
    _, codes = enrol(client, world.alice)
    client.post("/logout/")
    sign_in(client, "alice")
    page = client.get("/login/verify/")
    assert b'name="recovery_code"' in page.content and b'inputmode="text"' in page.content
    assert client.post("/login/verify/", {"recovery_code": codes[1]}).status_code == 302
