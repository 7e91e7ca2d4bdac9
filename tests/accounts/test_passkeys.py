"""Passkeys as a second factor: register, name, remove, sign in; recovery codes still work.

The passkey here is a software authenticator (tests/accounts/softkey.py) answering the
portal's real WebAuthn ceremonies; the browser suite does the same with Chromium's."""

import re
import time

import pytest
from django_otp_webauthn.models import WebAuthnCredential

from accounts import mfa
from audit.models import AuditEvent
from core.sessions import AUTHENTICATED_AT
from tests.accounts.softkey import SoftKey, register, use
from tests.accounts.test_second_factor import code_for, enrol, offered_device, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def codes_on(page):
    return re.findall(r"<li>([0-9a-z]{8})</li>", page.content.decode())


def age_session(client, seconds):
    session = client.session
    session[AUTHENTICATED_AT] = time.time() - seconds
    session.save()


@pytest.fixture
def bob_with_passkey(client, world):
    """Bob signed in, with a passkey as his only second factor; yields (key, codes)."""
    sign_in(client, "bob")
    key = SoftKey()
    assert register(client, key).status_code == 200
    codes = codes_on(client.get("/account/two-factor/"))
    return key, codes


def test_a_first_passkey_turns_the_second_factor_on_with_recovery_codes(
    client, world, bob_with_passkey
):
    key, codes = bob_with_passkey

    passkey = WebAuthnCredential.objects.get(user=world.bob)
    assert passkey.name == "Passkey 1"
    assert len(codes) == 10 and mfa.recovery_codes_left(world.bob) == 10
    # Shown once: the next visit lists the passkey, not the codes.
    page = client.get("/account/two-factor/")
    assert codes_on(page) == [] and b"Passkey 1" in page.content
    assert AuditEvent.objects.filter(
        action="mfa.enrolled", actor=world.bob, detail="passkey added: Passkey 1"
    ).exists()


def test_after_the_password_the_passkey_is_asked_for_and_signs_in(client, world, bob_with_passkey):
    key, _ = bob_with_passkey
    client.post("/logout/")
    sign_in(client, "bob")

    assert client.get("/")["Location"].startswith("/login/verify/")
    page = client.get("/login/verify/?next=/tokens/")
    assert b"Use a passkey" in page.content and b"Enter one of your recovery codes" in page.content

    used = use(client, key, next_url="/tokens/")

    assert used.status_code == 200 and used.json()["redirect_url"] == "/tokens/"
    assert client.get("/").status_code == 200


@pytest.fixture
def relying_party_localhost(settings):
    """Development's relying party: passkeys bound to localhost, used from port 8000."""
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]


def test_at_an_address_passkeys_do_not_work_at_the_pages_say_where_they_do(
    client, world, bob_with_passkey, relying_party_localhost
):
    # 127.0.0.1, the address a browser may be opened at: WebAuthn refuses it.
    passkeys = client.get("/account/two-factor/", HTTP_HOST="127.0.0.1:8000").content.decode()
    assert "passkey-register-button" not in passkeys and "otp_webauthn" not in passkeys
    assert "Passkeys work at" in passkeys and "to add a passkey" in passkeys
    client.post("/logout/")
    sign_in(client, "bob")
    verify = client.get("/login/verify/?next=/tokens/", HTTP_HOST="127.0.0.1:8000")
    where = 'Passkeys work at <a href="http://localhost:8000/login/verify/?next=/tokens/">'
    assert b"Use a passkey" not in verify.content and where in verify.content.decode()
    assert b"Enter one of your recovery codes" in verify.content

    # At the relying party's own name they are offered.
    here = client.get("/login/verify/?next=/tokens/", HTTP_HOST="localhost:8000")
    assert b"Use a passkey" in here.content and b"Passkeys work at" not in here.content


def test_passkeys_are_offered_at_the_origins_they_are_checked_against(client, world, settings):
    settings.OTP_WEBAUTHN_RP_ID = "example.com"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["https://portal.example.com", "https://example.com"]
    client.force_login(world.bob)

    for host, secure, offered in [
        ("portal.example.com", True, True),
        ("example.com", True, True),
        ("other.example.com", True, False),  # under the domain, but not an allowed origin
        ("portal.example.com:8443", True, False),  # another port
    ]:
        settings.ALLOWED_HOSTS = [host.split(":")[0]]
        page = client.get("/account/two-factor/", HTTP_HOST=host, secure=secure).content.decode()
        assert ("passkey-register-button" in page) is offered, (host, secure)


def test_someone_elses_passkey_does_not_sign_in(client, world, bob_with_passkey):
    client.post("/logout/")
    sign_in(client, "bob")

    stranger = use(client, SoftKey())

    assert stranger.status_code in (403, 404)
    assert client.get("/")["Location"].startswith("/login/verify/")


def test_a_recovery_code_still_signs_in(client, world, bob_with_passkey):
    _, codes = bob_with_passkey
    client.post("/logout/")
    sign_in(client, "bob")

    done = client.post("/login/verify/", {"recovery_code": codes[0], "next": "/"})

    assert done["Location"] == "/"
    assert client.get("/").status_code == 200
    assert mfa.recovery_codes_left(world.bob) == 9


def test_passkeys_are_named_and_renamed_by_their_owner_only(client, world, bob_with_passkey):
    passkey = WebAuthnCredential.objects.get(user=world.bob)

    client.post(
        "/account/two-factor/",
        {"action": "rename-passkey", "passkey": passkey.pk, "name": "  Work   laptop "},
    )
    passkey.refresh_from_db()
    assert passkey.name == "Work laptop"

    client.post("/logout/")
    client.force_login(world.carol)
    client.post(
        "/account/two-factor/", {"action": "rename-passkey", "passkey": passkey.pk, "name": "x"}
    )
    passkey.refresh_from_db()
    assert passkey.name == "Work laptop"


def test_a_second_passkey_needs_the_first_used_in_this_session(client, world, bob_with_passkey):
    key, _ = bob_with_passkey
    client.post("/logout/")
    sign_in(client, "bob")

    # Password alone: the library refuses to add another passkey.
    assert register(client, SoftKey()).status_code == 403
    use(client, key)
    assert register(client, SoftKey()).status_code == 200
    assert list(
        WebAuthnCredential.objects.filter(user=world.bob).values_list("name", flat=True)
    ) == ["Passkey 1", "Passkey 2"]


def test_removing_a_passkey_needs_a_fresh_factor(client, world, bob_with_passkey):
    key, _ = bob_with_passkey
    register(client, second := SoftKey())
    first = WebAuthnCredential.objects.filter(user=world.bob).first()
    age_session(client, 3600)

    stale = client.post("/account/two-factor/", {"action": "remove-passkey", "passkey": first.pk})

    assert stale["Location"].startswith("/login/confirm/")
    assert WebAuthnCredential.objects.filter(pk=first.pk).exists()

    # Confirmed again (the password, then the other passkey), it goes.
    step = client.post("/login/confirm/", {"password": PASSWORD, "next": "/account/two-factor/"})
    assert step["Location"].startswith("/login/confirm/")
    assert b"Use a passkey" in client.get(step["Location"]).content
    assert use(client, second, next_url="/account/two-factor/").status_code == 200
    assert time.time() - client.session[AUTHENTICATED_AT] < 30

    gone = client.post("/account/two-factor/", {"action": "remove-passkey", "passkey": first.pk})

    assert gone["Location"] == "/account/two-factor/"
    assert not WebAuthnCredential.objects.filter(pk=first.pk).exists()
    assert AuditEvent.objects.filter(action="mfa.removed", detail="passkey removed: Passkey 1")


def test_removing_the_last_passkey_turns_the_second_factor_off(client, world, bob_with_passkey):
    passkey = WebAuthnCredential.objects.get(user=world.bob)

    client.post("/account/two-factor/", {"action": "remove-passkey", "passkey": passkey.pk})

    assert not mfa.has_second_factor(world.bob)
    assert mfa.recovery_codes_left(world.bob) == 0


def test_a_passkey_and_an_authenticator_app_live_side_by_side(client, world):
    sign_in(client, "alice")
    device, codes = enrol(client, world.alice)
    key = SoftKey()

    assert register(client, key).status_code == 200
    # Recovery codes are not replaced by a second factor that is not the first.
    assert mfa.recovery_codes_left(world.alice) == len(codes)
    page = client.get("/account/two-factor/")
    assert b"Authenticator app: on" in page.content and b"Passkey 1" in page.content

    client.post("/logout/")
    sign_in(client, "alice")
    assert use(client, key).status_code == 200
    assert client.get("/admin/").status_code == 200


def test_an_operator_reset_removes_passkeys_too(client, world, bob_with_passkey):
    mfa.remove_second_factor(world.bob)

    assert not WebAuthnCredential.objects.filter(user=world.bob).exists()
    assert not mfa.has_second_factor(world.bob)


def test_a_new_second_factor_does_not_make_an_old_session_fresh(client, world, bob_with_passkey):
    """Someone holding Bob's old (verified) session adds their own authenticator app: that
    proves nothing about the first factor, so removing Bob's passkey still asks for it."""
    age_session(client, 3600)
    before = client.session[AUTHENTICATED_AT]
    client.get("/account/two-factor/")
    offered = offered_device(client)
    client.post("/account/two-factor/", {"action": "confirm", "code": code_for(offered)})
    assert mfa.has_authenticator_app(world.bob)
    assert client.session[AUTHENTICATED_AT] == before

    passkey = WebAuthnCredential.objects.get(user=world.bob)
    refused = client.post(
        "/account/two-factor/", {"action": "remove-passkey", "passkey": passkey.pk}
    )

    assert refused["Location"].startswith("/login/confirm/")
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


def test_a_second_factor_cannot_be_added_before_the_first_is_given(client, world, bob_with_passkey):
    client.post("/logout/")
    sign_in(client, "bob")  # the password only: the passkey is still to come
    session = client.session
    session[mfa.ENROLMENT_KEY] = "00" * 20
    session.save()
    offered = offered_device(client)

    refused = client.post("/account/two-factor/", {"action": "confirm", "code": code_for(offered)})

    assert refused["Location"].startswith("/login/verify/")
    assert not mfa.has_authenticator_app(world.bob)
    assert register(client, SoftKey()).status_code == 403


def test_removing_the_factor_this_session_was_verified_with_keeps_it_verified(
    client, world, bob_with_passkey
):
    key, _ = bob_with_passkey
    register(client, SoftKey())
    client.post("/logout/")
    sign_in(client, "bob")
    use(client, key)
    used = WebAuthnCredential.objects.filter(user=world.bob).first()

    client.post("/account/two-factor/", {"action": "remove-passkey", "passkey": used.pk})

    assert not WebAuthnCredential.objects.filter(pk=used.pk).exists()
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("bad", ["", "abc", "1e3", "9" * 40, "-1"])
def test_a_passkey_id_that_is_no_id_changes_nothing(client, world, bob_with_passkey, bad):
    for action in ["rename-passkey", "remove-passkey"]:
        response = client.post(
            "/account/two-factor/", {"action": action, "passkey": bad, "name": "x"}
        )
        assert response.status_code == 302
    assert WebAuthnCredential.objects.get(user=world.bob).name == "Passkey 1"
