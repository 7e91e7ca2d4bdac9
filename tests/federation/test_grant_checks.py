"""Granting with confidence: the role is checked in IAM (through the sandbox) before a
grant is saved."""

import html
import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from federation import aws, services
from federation.models import RoleMapping
from federation.services.grants import trusts_broker
from tests.conftest import READ_ONLY_POLICY
from tests.federation.test_grants import GRANT_URL, change_form, grant_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, world):
    client.force_login(world.alice)
    return client


def role(tenant, name, seconds=3600):
    return services.create_broker_role(
        name=name, tenant=tenant, max_session_seconds=seconds, policy_document=READ_ONLY_POLICY
    )


def test_a_good_role_is_granted_without_a_word(admin, world, sandbox):
    arn = role(world.tenant_a, "AcmeGood", seconds=7200)

    saved = admin.post(
        GRANT_URL,
        {
            **grant_form(world.tenant_a, role_arn=arn, max_session_seconds="7200"),
            "users": [world.bob.pk],
        },
        follow=True,
    )

    assert RoleMapping.objects.filter(role_arn=arn, user=world.bob).exists()
    assert "was not checked" not in saved.content.decode()


# Roles no issuance could use, and what granting them says.
UNUSABLE = pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (
            lambda world: "arn:aws:iam::123456789012:role/NoSuchRole",
            "role_arn",
            "AWS has no role with this ARN.",
        ),
        # Trusts the portal, but with the other tenant's ExternalId.
        (
            lambda world: role(world.tenant_b, "GlobexOwn"),
            "role_arn",
            "does not demand this tenant's ExternalId",
        ),
        # The role exists, but not under this path: AssumeRole would not find it.
        (
            lambda world: role(world.tenant_a, "AcmePath").replace(":role/", ":role/ops/"),
            "role_arn",
            "IAM knows this role as arn:aws:iam::123456789012:role/AcmePath: use that ARN.",
        ),
        (
            lambda world: role(world.tenant_a, "AcmeShort", seconds=3600),
            "max_session_seconds",
            "at most 1 hour (its MaxSessionDuration)",
        ),
    ],
)


@UNUSABLE
def test_a_role_no_issuance_could_use_is_refused_with_the_reason(
    admin, world, sandbox, make, field, message
):
    arn = make(world)

    page = admin.post(
        GRANT_URL,
        {
            **grant_form(world.tenant_a, role_arn=arn, max_session_seconds="7200"),
            "users": [world.bob.pk],
        },
    )

    assert page.status_code == 200
    assert message in html.unescape(page.content.decode())
    assert not RoleMapping.objects.filter(role_arn=arn).exists()


@UNUSABLE
def test_the_grant_command_refuses_the_same_roles_with_the_same_reason(
    world, sandbox, make, field, message
):
    arn = make(world)

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("grant", "bob", arn, "--tenant", "acme", "--max-session", "7200")

    assert not RoleMapping.objects.filter(role_arn=arn).exists()
    assert not AuditEvent.objects.filter(action="mapping.granted").exists()


@UNUSABLE
def test_the_grant_service_refuses_them_whoever_calls_it(world, sandbox, make, field, message):
    arn = make(world)

    with pytest.raises(ValidationError) as refused:
        services.grant_role(
            actor=world.alice,
            tenant=world.tenant_a,
            user=world.bob,
            role_arn=arn,
            max_session_seconds=7200,
        )

    assert any(message in text for text in refused.value.message_dict[field])
    assert not RoleMapping.objects.filter(role_arn=arn).exists()


def test_the_grant_command_grants_a_role_it_cannot_read_and_says_so(world, sandbox):
    arn = role(world.tenant_a, "AcmeUnreadByCommand")
    sandbox.faults = {"iam": "no-read"}
    out, err = StringIO(), StringIO()

    call_command("grant", "bob", arn, "--tenant", "acme", stdout=out, stderr=err)

    grant = RoleMapping.objects.get(role_arn=arn, user=world.bob)
    assert out.getvalue().strip() == str(grant.pk)
    assert "warning: The role was not checked: AWS refused" in err.getvalue()


def test_a_role_the_broker_cannot_read_is_granted_with_a_warning(admin, world, monkeypatch):
    # No sandbox here: IAM does not answer.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    aws.reset_clients()
    saved = admin.post(
        GRANT_URL, {**grant_form(world.tenant_a), "users": [world.bob.pk]}, follow=True
    )

    assert RoleMapping.objects.filter(user=world.bob).exists()
    assert "The role was not checked" in saved.content.decode()


def test_a_broker_that_may_not_read_iam_grants_with_a_warning(admin, world, sandbox):
    arn = role(world.tenant_a, "AcmeUnread")
    sandbox.faults = {"iam": "no-read"}

    saved = admin.post(
        GRANT_URL,
        {**grant_form(world.tenant_a, role_arn=arn), "users": [world.bob.pk]},
        follow=True,
    )

    assert RoleMapping.objects.filter(role_arn=arn, user=world.bob).exists()
    assert (
        "The role was not checked: AWS refused: Portcullis lacks iam:GetRole on this role."
        in saved.content.decode()
    )


def test_a_broker_that_cannot_say_who_it_is_grants_with_a_warning(admin, world, sandbox):
    arn = role(world.tenant_a, "AcmeNobody")
    aws.reset_clients()  # a portal process that has not asked AWS who it is yet
    sandbox.faults = {"sts": "throttle", "only": "GetCallerIdentity"}

    saved = admin.post(
        GRANT_URL,
        {**grant_form(world.tenant_a, role_arn=arn), "users": [world.bob.pk]},
        follow=True,
    )

    assert RoleMapping.objects.filter(role_arn=arn, user=world.bob).exists()
    assert "AWS did not say who the portal is (Throttling)" in saved.content.decode()


@pytest.mark.parametrize(
    ("principal", "trusted"),
    [
        ("arn:aws:iam::111111111111:root", True),
        ("111111111111", True),
        ("*", True),
        ("arn:aws:iam::111111111111:role/ops/PortcullisBroker", True),
        ("arn:aws:iam::111111111111:role/SomeoneElse", False),
        ("arn:aws:iam::222222222222:root", False),
    ],
)
def test_who_the_trust_policy_lets_in(principal, trusted):
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [principal]}, "Action": "sts:AssumeRole"}
        ]
    }
    broker = "arn:aws:sts::111111111111:assumed-role/PortcullisBroker/i-0abc"
    assert trusts_broker(policy, account_id="111111111111", broker_arn=broker) is trusted


def test_limits_are_chosen_by_name_and_a_date_alone_means_the_end_of_that_day(
    admin, world, sandbox
):
    world.tenant_a.time_zone = "Europe/Berlin"
    world.tenant_a.save()
    arn = role(world.tenant_a, "AcmeDay", seconds=43200)
    page = admin.get(GRANT_URL).content.decode()
    assert '<option value="14400">4 hours</option>' in page
    assert "until the end of the day, Europe/Berlin" in page

    day = date.today() + timedelta(days=3)
    # The tenant's clock, not the admin's browser's.
    admin.cookies["portcullis_tz"] = "America/New_York"
    admin.post(
        GRANT_URL,
        {
            **grant_form(world.tenant_a, role_arn=arn, max_session_seconds="14400"),
            "users": [world.bob.pk],
            "valid_until_0": day.isoformat(),
            "valid_until_1": "",
        },
    )

    grant = RoleMapping.objects.get(role_arn=arn)
    assert grant.max_session_seconds == 14400
    berlin = datetime.combine(day, datetime.max.time()).replace(
        microsecond=0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert grant.valid_until == berlin


def test_the_grants_page_takes_a_date_alone_on_the_tenants_clock(admin, world, bob_grant):
    world.tenant_a.time_zone = "Asia/Tokyo"
    world.tenant_a.save()
    admin.cookies["portcullis_tz"] = "Europe/London"
    url = f"/admin/federation/rolemapping/{bob_grant.pk}/change/"
    assert "until the end of the day, Asia/Tokyo" in admin.get(url).content.decode()
    day = date.today() + timedelta(days=10)
    tokyo = ZoneInfo("Asia/Tokyo")
    start = bob_grant.valid_from.astimezone(tokyo)

    response = admin.post(
        url,
        {
            **change_form(bob_grant),
            "valid_from_0": f"{start:%Y-%m-%d}",
            "valid_from_1": f"{start:%H:%M:%S}",
            "valid_until_0": day.isoformat(),
            "valid_until_1": "",
        },
    )

    assert response.status_code == 302, response.content.decode()
    bob_grant.refresh_from_db()
    assert bob_grant.valid_until == datetime.combine(day, time(23, 59, 59), tzinfo=tokyo)
    # The start it had, to the second: read and shown on the same clock.
    assert abs(bob_grant.valid_from - start) < timedelta(seconds=1)


class VisibleText(HTMLParser):
    """What a person reads on a page: text, not markup, names or scripts."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in {"script", "style"}

    def handle_endtag(self, tag):
        self._skip -= tag in {"script", "style"}

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(response):
    parser = VisibleText()
    parser.feed(response.content.decode())
    return " ".join(" ".join(parser.parts).split())


def test_no_grant_or_tenant_page_asks_for_seconds(admin, world, bob_grant):
    pages = [
        GRANT_URL,
        f"/admin/federation/rolemapping/{bob_grant.pk}/change/",
        "/admin/federation/rolemapping/",
        f"/admin/accounts/tenant/{world.tenant_a.pk}/change/",
        "/admin/accounts/tenant/",
    ]
    for url in pages:
        text = visible_text(admin.get(url))
        assert "seconds" not in text.lower(), (url, text)
    grant_page = admin.get(GRANT_URL).content.decode()
    assert '<option value="86400">24 hours</option>' in grant_page  # longest window
    assert '<option value="0">Never</option>' in grant_page  # escalate after
    assert "12 hours" in visible_text(admin.get("/admin/accounts/tenant/"))


def test_the_grants_page_offers_limits_by_name_and_keeps_one_set_elsewhere(admin, world, bob_grant):
    # 1 hour 30 minutes, set from the command line: no preset, and kept as it is.
    RoleMapping.objects.filter(pk=bob_grant.pk).update(max_session_seconds=5400)
    url = f"/admin/federation/rolemapping/{bob_grant.pk}/change/"
    page = admin.get(url).content.decode()
    assert '<option value="5400" selected>1 hour 30 minutes</option>' in page
    assert '<option value="28800">8 hours</option>' in page

    response = admin.post(url, change_form(bob_grant, max_session_seconds="5400", label="Kept"))
    assert response.status_code == 302, response.content.decode()
    bob_grant.refresh_from_db()
    assert (bob_grant.label, bob_grant.max_session_seconds) == ("Kept", 5400)

    # A number typed into the request is no choice.
    refused = admin.post(url, change_form(bob_grant, max_session_seconds="4000"))
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_a_tenant_picks_its_longest_session_by_name(admin, world):
    url = f"/admin/accounts/tenant/{world.tenant_a.pk}/change/"
    assert '<option value="43200" selected>12 hours</option>' in admin.get(url).content.decode()
    response = admin.post(
        url,
        {
            "name": "Acme",
            "max_session_seconds": "14400",
            "send_source_identity": "on",
            "time_zone": "UTC",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.max_session_seconds == 14400


def test_the_grants_page_checks_the_role_in_iam_as_granting_does(admin, world, sandbox):
    arn = role(world.tenant_a, "AcmeHour", seconds=3600)
    grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, user=world.bob, role_arn=arn
    )
    url = f"/admin/federation/rolemapping/{grant.pk}/change/"

    longer = admin.post(url, change_form(grant, max_session_seconds="14400"))

    assert longer.status_code == 200
    assert "at most 1 hour (its MaxSessionDuration)" in longer.content.decode()
    grant.refresh_from_db()
    assert grant.max_session_seconds == 3600
    assert not AuditEvent.objects.filter(action="mapping.changed").exists()

    # IAM says nothing: the change is saved, with a warning that the role was not checked.
    sandbox.faults = {"iam": "no-read"}
    saved = admin.post(url, change_form(grant, label="Hour"), follow=True)
    assert "The role was not checked" in saved.content.decode()
    grant.refresh_from_db()
    assert grant.label == "Hour"

    # A grant whose role is gone from IAM cannot be changed, but it can be ended.
    sandbox.faults = {}
    iam = aws.iam_client()
    for policy in iam.list_role_policies(RoleName="AcmeHour")["PolicyNames"]:
        iam.delete_role_policy(RoleName="AcmeHour", PolicyName=policy)
    iam.delete_role(RoleName="AcmeHour")
    refused = admin.post(url, change_form(grant, label="Gone"))
    assert "AWS has no role with this ARN." in refused.content.decode()
    ended = admin.post(url, change_form(grant, label="Hour", active=""))
    assert ended.status_code == 302
    grant.refresh_from_db()
    assert not grant.active
