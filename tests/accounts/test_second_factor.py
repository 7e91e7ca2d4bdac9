"""The second factor: who must have one, enrolment, codes, recovery codes and removal."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from federation.models import AuditEvent
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
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page = client.post("/account/two-factor/", {"action": "confirm", "code": code_for(device)})
    codes = re.findall(r"<li>([0-9a-z]{8})</li>", page.content.decode())
    device.refresh_from_db()
    return device, codes


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
    for _ in range(4):
        assert client.post("/login/verify/", {"code": "123456"}).status_code == 200
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
