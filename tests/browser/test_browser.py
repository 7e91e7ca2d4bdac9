"""The portal in a real browser: Debian's Chromium, headless, driven by Playwright.

Run with `make browser` (it installs chromium with apt when missing). Screenshots of the
main pages land in docs/screenshots/.
"""

import base64
import io
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django_otp.oath import TOTP

from accounts.models import Tenant, User
from federation import services
from federation.models import ApiToken, RoleMapping
from tests.conftest import PASSWORD, READ_ONLY_POLICY
from tests.factories import MembershipFactory, UserFactory
from tests.servers import identity_provider, identity_provider_missing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def ensure_chromium():
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True)
    else:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")


@pytest.fixture(scope="module")
def browser():
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1200, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    yield context
    context.close()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username, password=PASSWORD):
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")


def current_code(key):
    secret = base64.b32decode(key.replace(" ", "") + "=" * (-len(key.replace(" ", "")) % 8))
    return f"{TOTP(secret).token():06d}"


@pytest.fixture
def demo(sandbox):
    """The demo the README describes (`manage.py demo`): Example Corp, bob / bobpassword
    with Sandbox administrator and Production (on request), alice / alicepassword its
    admin, who approves. The README's screenshots are taken of it."""
    call_command("demo", stderr=io.StringIO())
    bob = User.objects.get(username="bob")
    return SimpleNamespace(
        sandbox=sandbox,
        tenant=Tenant.objects.get(slug="example-corp"),
        bob=bob,
        alice=User.objects.get(username="alice"),
        standing=RoleMapping.objects.get(user=bob, activation="standing"),
        on_request=RoleMapping.objects.get(user=bob, activation="on_request"),
    )


def sign_in_to_demo(page, username):
    sign_in(page, username, f"{username}password")


def assume_role_calls(demo):
    return demo.sandbox.calls["sts:AssumeRole"]


def test_bob_copies_the_link_and_opens_the_console(context, live_server, demo):
    page = context.new_page()
    sign_in_to_demo(page, "bob")
    card = page.locator(f"#role-{demo.standing.pk}")
    card.wait_for()
    assert "Sandbox administrator" in card.inner_text()
    shot(page, "my-roles")
    # Copy link to the role: its address, which opens nothing by itself.
    card.locator("button:has-text('Copy link')").click()
    card.locator("button:has-text('Link copied')").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{live_server.url}/console/{demo.standing.pk}/"

    # A double click opens one session: the button waits after the first.
    card.locator("button:has-text('Open console')").dblclick()
    page.wait_for_selector("#console-url")
    assert assume_role_calls(demo) == 1
    shot(page, "console-link")
    url = page.input_value("#console-url")
    page.click("button:has-text('Copy URL')")
    page.wait_for_selector("#copy-status:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == url
    with context.expect_page() as opened:
        page.click("a:has-text('Open console')")
    console = opened.value
    console.wait_for_load_state()
    assert "Sandbox AWS console" in console.content()
    assert console.inner_text("#assumed-role").endswith(":assumed-role/PortcullisDemoAdmin/bob")
    shot(console, "sandbox-console")
    console.close()

    # A reload, or back to the roles page: never a second session. (Forward to a page
    # marked no-store is Chromium's own "send the form again?" page; sent, it is a reload.)
    page.reload()
    page.wait_for_selector("text=This session was already opened")
    page.go_back()
    card.locator("button:has-text('Open console')").wait_for()
    assert card.locator("button:has-text('Open console')").is_enabled()
    assert assume_role_calls(demo) == 1
    page.goto(f"/console/{demo.standing.pk}/")
    page.wait_for_selector("text=Showing one role")

    page.goto("/")
    card.locator("button:has-text('CLI credentials')").click()
    page.wait_for_selector("text=export AWS_ACCESS_KEY_ID")
    assert assume_role_calls(demo) == 2
    shot(page, "cli-credentials")


def test_keyboard_alone_finds_a_role_and_opens_the_console(context, demo):
    page = context.new_page()
    page.goto("/login/")
    page.focus("#id_username")
    page.keyboard.type("bob")
    page.keyboard.press("Tab")
    page.keyboard.type("bobpassword")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Signed in as")

    def tab_to(selector, presses=60):
        target = page.locator(selector)
        for _ in range(presses):
            page.keyboard.press("Tab")
            if target.evaluate("element => element === document.activeElement"):
                # Where the focus is, the eye sees it: an outline or a ring.
                style = target.evaluate(
                    "e => { const s = getComputedStyle(e);"
                    " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
                )
                assert style[0] != "none" or style[2] != "none", (selector, style)
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to(f"#role-{demo.standing.pk} select[name=duration]")
    page.keyboard.press("End")  # the longest session the grant allows
    tab_to(f"#role-{demo.standing.pk} button:has-text('Open console')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#console-url")
    assert "Session is valid for 12 hours" in page.content()


def test_an_admin_enrols_grants_a_role_and_the_employee_sees_it(
    context, live_server, demo, settings
):
    reader_arn = services.create_broker_role(
        name="PortcullisDemoReadOnly",
        tenant=demo.tenant,
        max_session_seconds=3600,
        policy_document=READ_ONLY_POLICY,
    )
    admin = context.new_page()
    sign_in_to_demo(admin, "alice")
    # Staff must set up a second factor first; the test is the authenticator app.
    admin.wait_for_selector("#manual-key")
    shot(admin, "two-factor-setup")
    admin.fill("#id_code", current_code(admin.inner_text("#manual-key")))
    admin.click("button:has-text('Turn on')")
    admin.wait_for_selector("#recovery-codes")
    assert len(admin.locator("#recovery-codes li").all()) == 10

    employee = context.browser.new_context(base_url=live_server.url)
    bob = employee.new_page()
    sign_in_to_demo(bob, "bob")
    bob.wait_for_selector("text=Signed in as")
    assert "Read-only" not in bob.content()

    admin.goto("/admin/federation/rolemapping/add/")
    tenant = admin.locator("#id_tenant")
    if tenant.count():  # offered only to someone who runs several tenants
        tenant.select_option(label="Example Corp")
    admin.fill("#id_role_arn", reader_arn)
    admin.fill("#id_label", "Read-only")
    admin.select_option("#id_users_from", label="bob")
    admin.click("#id_users_add")
    shot(admin, "admin-grant")
    admin.click("input[value=Grant]")
    admin.wait_for_selector("text=Granted Read-only to bob")
    # The grants list fits the screen: who, role, limit, until, state, last use.
    table = admin.evaluate(
        "[document.querySelector('#result_list').scrollWidth,"
        " document.querySelector('.results').clientWidth]"
    )
    assert table[0] <= table[1], table
    shot(admin, "admin-grants")
    # On a narrower screen the filters go above the list: no column hides beside them.
    admin.set_viewport_size({"width": 1024, "height": 800})
    table = admin.evaluate(
        "[document.querySelector('#result_list').scrollWidth,"
        " document.querySelector('.results').clientWidth,"
        " document.querySelector('#result_list').getBoundingClientRect().right,"
        " document.querySelector('#changelist-filter').getBoundingClientRect().bottom,"
        " document.querySelector('#result_list').getBoundingClientRect().top]"
    )
    assert table[0] <= table[1] and table[2] <= 1024 and table[3] <= table[4], table
    admin.set_viewport_size({"width": 1200, "height": 800})

    bob.reload()
    bob.wait_for_selector("text=Read-only")
    employee.close()

    admin.goto("/audit/")
    admin.wait_for_selector(".badge:has-text('mapping.granted')")
    shot(admin, "audit-trail")


def test_the_login_page(context, world):
    page = context.new_page()
    page.goto("/login/")
    shot(page, "sign-in")
    # No inline script or style was blocked: the page logged no CSP violation.
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.reload()
    assert not [m for m in messages if "Content Security Policy" in m]


def test_a_member_of_another_tenant_sees_nothing_of_acme(context, world, bob_grant):
    MembershipFactory(user=UserFactory(username="dora"), tenant=world.tenant_b)
    page = context.new_page()
    sign_in(page, "dora")
    page.wait_for_selector("text=Signed in as")
    assert "Acme" not in page.content()
    response = page.request.post(f"/console/{bob_grant.pk}/")
    assert response.status in {403, 404}  # no CSRF token: refused before it is even looked up


def test_bob_asks_alice_approves_bob_opens_the_console_and_ends_it(
    context, browser, live_server, demo
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=demo.alice, name="phone", confirmed=True)
    grant = demo.on_request

    bob = context.new_page()
    sign_in_to_demo(bob, "bob")
    card = bob.locator(f"#role-{grant.pk}")
    card.wait_for()
    assert card.locator("button:has-text('Open console')").count() == 0
    card.locator("select[name=duration]").select_option("3600")
    card.locator("textarea[name=justification]").fill("Rotate the production database keys")
    card.locator("input[name=ticket]").fill("CHG-1234")
    shot(bob, "access-request")
    card.locator("button:has-text('Request access')").click()
    bob.wait_for_selector("text=Waiting for approval from alice")

    approver_context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 900},  # a phone
    )
    approver = approver_context.new_page()
    sign_in_to_demo(approver, "alice")
    approver.wait_for_selector("#id_code")
    approver.fill("#id_code", f"{TOTP(device.bin_key).token():06d}")
    approver.click("button:has-text('Continue')")
    approver.wait_for_selector("#nav-approvals .badge:has-text('1')")
    approver.goto("/approvals/")
    approver.wait_for_selector("text=Rotate the production database keys")
    shot(approver, "approval")
    approver.click("button:has-text('Approve')")
    approver.wait_for_selector("text=Approved: bob has Production (on request) until")
    approver_context.close()

    bob.goto("/")
    card.locator("text=Active until").wait_for()
    shot(bob, "access-active")
    with context.expect_page() as opened:
        card.locator("button:has-text('Open console')").click()
        bob.wait_for_selector("#console-url")
        link = bob.input_value("#console-url")
        bob.click("a:has-text('Open console')")
    console = opened.value
    console.wait_for_load_state()
    assert console.inner_text("#source-identity") == "bob"
    console.close()

    bob.goto("/")
    card.locator("button:has-text('End now')").click()
    bob.wait_for_selector("text=Every session of this role bob opened before")
    refused = context.new_page()
    response = refused.goto(link)
    assert response.status == 403
    assert "access for bob ended at" in refused.content()


# --- passkeys and the company account ------------------------------------------------------


def virtual_authenticator(page):
    """Chromium's virtual authenticator (the DevTools WebAuthn domain): a platform passkey
    that verifies the user and answers at once."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_bob_adds_a_passkey_and_signs_in_with_it(context, live_server, demo, settings):
    # WebAuthn needs a domain name: the live server is at http://localhost:PORT.
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(page)
    sign_in_to_demo(page, "bob")
    page.wait_for_selector("text=Signed in as")

    page.goto("/account/two-factor/")
    page.click("#passkey-register-button")
    # The page shows itself again: the recovery codes of a first passkey, then the passkey.
    page.wait_for_selector("#recovery-codes")
    assert len(page.locator("#recovery-codes li").all()) == 10
    assert page.locator("input[name=name]").input_value() == "Passkey 1"
    page.fill("input[name=name]", "This laptop")
    page.click("button:has-text('Rename')")
    page.wait_for_selector("text=Passkey renamed.")
    shot(page, "passkeys")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1

    page.click("button:has-text('Sign out')")
    sign_in_to_demo(page, "bob")
    page.wait_for_selector("#passkey-verification-button")
    shot(page, "passkey-sign-in")
    page.click("#passkey-verification-button")
    page.wait_for_url(f"{live_server.url}/")
    page.wait_for_selector("h1:has-text('My AWS roles')")


def test_dave_signs_in_with_his_company_account(
    context, live_server, demo, settings, tmp_path, monkeypatch
):
    missing = identity_provider_missing()
    if missing and os.environ.get("PORTCULLIS_REQUIRE_IDP") == "true":
        pytest.fail(f"CI runs the sign-in tests against a real provider, but {missing}")
    if missing:
        pytest.skip(missing)
    settings.DEBUG = True  # the provider is plain http on loopback
    # Example Corp's provider as `make run` starts it: dave, in the group aws-admins.
    client = {
        "client_id": "portcullis-demo",
        "client_secret": "demo-client-secret",
        "redirect_uris": [f"{live_server.url}/login/oidc/callback/"],
    }
    dave = {
        "password": "davepassword",
        "email": "dave@example.com",
        "groups": ["aws-admins"],
        "amr": ["pwd", "otp"],
    }
    with identity_provider(tmp_path, clients=[client], accounts={"dave": dave}) as issuer:
        monkeypatch.setattr("sys.stdin", io.StringIO("demo-client-secret\n"))
        call_command("demo", "--identity-provider", issuer, stderr=io.StringIO())
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_email", "dave@example.com")
        shot(page, "sign-in-company")
        page.click("button:has-text('Continue')")
        page.wait_for_url(f"{issuer}/**")
        page.fill("input[name=login]", "dave")
        page.fill("input[name=password]", "davepassword")
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/")
        page.wait_for_selector("text=Signed in as")
        assert "dave@example.com" in page.inner_text("header")
        # His provider group is the team that holds the sandbox administrator role.
        assert "Sandbox administrator" in page.inner_text("main")


def test_bob_finds_a_role_as_he_types_and_follows_a_link_to_one(
    context, live_server, world, bob_grant
):
    from federation import services

    reader = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=services.create_broker_role(
            name="AcmeReader", tenant=world.tenant_a, policy_document=READ_ONLY_POLICY
        ),
        label="Billing reader",
        max_session_seconds=3600,
    )
    page = context.new_page()
    sign_in(page, "bob")
    page.wait_for_selector("#role-filter")
    page.fill("#role-filter", "billing")
    assert page.is_hidden(f"#role-{bob_grant.pk}") and page.is_visible(f"#role-{reader.pk}")
    assert page.inner_text("#find-count") == "1 of 2 roles"
    page.fill("#role-filter", "nothing like it")
    assert page.is_visible("#no-match")

    page.goto(f"/console/{reader.pk}/")
    page.wait_for_selector("text=Showing one role")
    assert page.locator("li.role").count() == 1

    # Starred, the reader comes first.
    page.goto("/")
    page.click(f"#role-{reader.pk} button:has-text('Star')")
    page.wait_for_selector("#starred")
    assert page.locator("li.role").first.get_attribute("id") == f"role-{reader.pk}"


def test_dark_mode_and_a_phone_sized_screen(browser, live_server, demo):
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    page = phone.new_page()
    sign_in_to_demo(page, "bob")
    page.wait_for_selector("text=Signed in as")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    widths = {}
    for path in ["/", "/tokens/", "/requests/", "/account/", "/account/two-factor/"]:
        page.goto(path)
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
    for button in ["Open console", "CLI credentials"]:
        page.goto("/")
        page.locator(f"#role-{demo.standing.pk} button:has-text('{button}')").click()
        page.wait_for_selector("h1")
        widths[button] = page.evaluate("document.documentElement.scrollWidth")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert {where: width for where, width in widths.items() if width > 390} == {}
    page.goto("/")
    shot(page, "my-roles-phone-dark")
    phone.close()


AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page):
    """axe-core's findings on the page that are serious or critical."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in found
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_pages_pass_an_accessibility_check(browser, live_server, demo, scheme):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` in tests/browser (make browser does)")
    # axe is injected as a script: this context lets the page's CSP allow it.
    context = browser.new_context(base_url=live_server.url, bypass_csp=True, color_scheme=scheme)
    page = context.new_page()
    page.goto("/login/")
    found = {"/login/": serious_violations(page)}
    sign_in_to_demo(page, "bob")
    page.wait_for_selector("text=Signed in as")
    pages = ["/", "/tokens/", "/requests/", "/account/", "/account/two-factor/"]
    for path in pages:
        page.goto(path)
        found[path] = serious_violations(page)
    for button in ["Open console", "CLI credentials"]:  # the result pages
        page.goto("/")
        page.locator(f"#role-{demo.standing.pk} button:has-text('{button}')").click()
        page.wait_for_selector("h1")
        found[button] = serious_violations(page)
    context.clear_cookies()

    # The approver's and the tenant admin's pages.
    device = TOTPDevice.objects.create(user=demo.alice, name="phone", confirmed=True)
    sign_in_to_demo(page, "alice")
    page.fill("#id_code", f"{TOTP(device.bin_key).token():06d}")
    page.click("button:has-text('Continue')")
    page.wait_for_selector("text=Signed in as")
    for path in ["/approvals/", "/audit/"]:
        page.goto(path)
        found[path] = serious_violations(page)
    page.goto("/audit/")
    page.locator("table.audit a").first.click()
    page.wait_for_selector("h1")
    found["an audit record"] = serious_violations(page)
    context.close()
    assert {where: issues for where, issues in found.items() if issues} == {}


def test_times_show_in_the_browsers_time_zone(browser, live_server, world):
    tokyo = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = tokyo.new_page()
    sign_in(page, "bob")
    page.wait_for_selector("text=Signed in as")
    page.goto("/tokens/")
    page.fill("#token-name", "laptop")
    page.click("button:has-text('Create token')")
    page.wait_for_selector("#new-token")
    assert " JST" in page.inner_text("table")
    # UTC is one hover away.
    assert page.locator("table time").first.get_attribute("title").endswith(" UTC")
    tokyo.close()


def test_the_first_page_after_a_move_shows_the_new_time_zone(browser, live_server, world):
    ApiToken.issue(user=world.bob, name="laptop", days=30)
    tokyo = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = tokyo.new_page()
    sign_in(page, "bob")
    page.wait_for_selector("text=Signed in as")
    # Last seen in Berlin; the browser is in Tokyo now, and this is the first page since.
    tokyo.add_cookies([{"name": "portcullis_tz", "value": "Europe/Berlin", "url": live_server.url}])
    page.goto("/tokens/")
    page.wait_for_selector("table time:has-text('JST')")
    assert " CET" not in page.inner_text("table") and " CEST" not in page.inner_text("table")
    tokyo.close()
