"""`/audit/`: tenant admins review and export their tenant's trail."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from audit.records import RequestMeta, record
from audit.views import PAGE_SIZE, _copied_rows, _written_rows
from federation.models import AwsAccount
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLE_A = "arn:aws:iam::111111111111:role/AcmeAdmin"
ROLE_B = "arn:aws:iam::222222222222:role/GlobexAdmin"


def event(tenant, action, *, user=None, role=ROLE_A, **fields):
    return record(
        action,
        actor=user,
        tenant=tenant,
        role_arn=role,
        role_session_name=user.username if user else "",
        source_identity=user.username if user else "",
        **fields,
    )


def rows(response):
    """The page's records, less the world fixture's own (people joining their tenants)."""
    found = re.findall(r'<tr class="outcome-[^"]+">(.*?)</tr>', response.content.decode(), re.S)
    return [row for row in found if " joined as " not in row]


def csv_rows(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def trail(world):
    event(world.tenant_a, "console.issued", user=world.bob, duration_seconds=3600)
    event(world.tenant_a, "console.denied", user=world.bob, detail="no usable grant")
    event(world.tenant_a, "cli.failed", user=world.alice, error_code="Throttling")
    event(world.tenant_b, "console.issued", user=world.carol, role=ROLE_B, detail="globex-secret")


def test_it_shows_a_tenant_admin_their_tenant_newest_first(client, world, trail):
    client.force_login(world.alice)
    response = client.get("/audit/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    shown = rows(response)
    assert len(shown) == 3
    assert "cli.failed" in shown[0] and "console.issued" in shown[-1]
    # The CloudTrail link: the session name and SourceIdentity are on every row.
    assert "bob / bob" in shown[-1]
    page = response.content.decode()
    assert "carol" not in page and "globex" not in page.lower() and ROLE_B not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"user": "BOB"}, ["console.denied", "console.issued"]),
        ({"action": "cli.failed"}, ["cli.failed"]),
        ({"outcome": "issued"}, ["console.issued"]),
        ({"outcome": "denied", "user": "bob"}, ["console.denied"]),
        ({"role": ROLE_A, "outcome": "failed"}, ["cli.failed"]),
        ({"role": ROLE_B}, []),
        ({"user": "carol"}, []),
    ],
)
def test_it_filters(client, world, trail, query, expected):
    client.force_login(world.alice)
    response = client.get("/audit/", query)
    shown = rows(response)
    assert [re.search(r'class="badge">([^<]+)<', row).group(1) for row in shown] == expected
    # The form still says what the page is filtered by: one option chosen in each list.
    page = response.content.decode()
    for name in ("action", "outcome"):
        listed = re.search(rf'<select name="{name}" id="id_{name}">(.*?)</select>', page, re.S)
        chosen = re.findall(r'<option value="([^"]*)" selected>', listed.group(1))
        assert chosen == [query.get(name, "")]


def test_a_records_text_is_shown_as_text(client, world):
    event(world.tenant_a, "console.denied", user=world.bob, detail='<img src=x onerror="go()">')
    client.force_login(world.alice)
    (shown,) = [row for row in rows(client.get("/audit/")) if "console.denied" in row]
    assert "<img" not in shown
    assert "&lt;img src=x onerror=&quot;go()&quot;&gt;" in shown


def test_it_filters_by_date_range(client, world, trail):
    old = AuditEvent.objects.create(
        tenant=world.tenant_a,
        action="console.issued",
        actor_username="bob",
        created_at=timezone.now() - timedelta(days=10),
    )
    client.force_login(world.alice)
    day = old.created_at.date()
    shown = rows(client.get("/audit/", {"since": day, "until": day}))
    assert len(shown) == 1
    assert len(rows(client.get("/audit/", {"since": day + timedelta(days=1)}))) == 3
    bad = client.get("/audit/", {"since": "2026-02-30", "until": "yesterday"})
    assert bad.status_code == 200
    assert b"Enter a valid date." in bad.content
    assert rows(bad) == []


def test_it_pages_by_key_without_counting_or_offsets(client, world):
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=world.tenant_a,
            action="console.issued",
            actor_username=f"user{n:03d}",
            # Ties in time on purpose: the id breaks them.
            created_at=now - timedelta(seconds=n // 3),
        )
        for n in range(PAGE_SIZE * 2 + 7)
    )
    client.force_login(world.alice)
    seen = []
    url, query = "/audit/", {}
    with CaptureQueriesContext(connection) as queries:
        while True:
            response = client.get(url, query)
            seen += re.findall(r"<td>(user\d{3})", response.content.decode())
            older = re.search(r'href="\?([^"]+)" rel="next"', response.content.decode())
            if not older:
                break
            query = older.group(1).replace("&amp;", "&")
            url = f"/audit/?{query}"
            query = {}
    # Newest first; within one instant, the later insert first.
    order = sorted(range(PAGE_SIZE * 2 + 7), key=lambda n: (n // 3, -n))
    assert seen == [f"user{n:03d}" for n in order]
    sql = " ".join(
        q["sql"].upper() for q in queries.captured_queries if "federation_auditevent" in q["sql"]
    )
    assert "COUNT(" not in sql
    assert "OFFSET" not in sql


def test_it_refuses_a_forged_page_link(client, world, trail):
    client.force_login(world.alice)
    response = client.get("/audit/", {"after": "not-a-cursor"})
    assert response.status_code == 400
    assert b"That page link is not valid." in response.content


def test_it_is_for_admins_only(client, world, trail):
    client.force_login(world.bob)
    response = client.get("/audit/")
    assert response.status_code == 403
    assert b"bob" not in response.content.split(b"</header>")[1]
    assert client.get("/audit/export.csv").status_code == 403
    client.logout()
    assert client.get("/audit/").status_code == 302


def test_an_operator_sees_every_tenant(client, world, trail):
    operator = UserFactory(username="op", is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.get("/audit/")
    assert len(rows(response)) == 4
    only_b = client.get("/audit/", {"tenant": world.tenant_b.pk})
    assert len(rows(only_b)) == 1


def test_an_admin_of_two_tenants_chooses_between_them(client, world, trail):
    MembershipFactory(user=world.alice, tenant=world.tenant_b, role="admin")
    client.force_login(world.alice)
    assert len(rows(client.get("/audit/"))) == 4
    assert len(rows(client.get("/audit/", {"tenant": world.tenant_b.pk}))) == 1


def test_a_tenant_admin_cannot_ask_for_another_tenant(client, world, trail):
    client.force_login(world.alice)
    response = client.get("/audit/", {"tenant": world.tenant_b.pk})
    assert b"Select a valid choice" in response.content
    assert rows(response) == []
    export = client.get("/audit/export.csv", {"tenant": world.tenant_b.pk})
    assert export.status_code == 400
    assert b"globex" not in export.content


def test_it_exports_the_same_filter_as_csv(client, world, trail):
    client.force_login(world.alice)
    response = client.get("/audit/export.csv", {"user": "bob"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="portcullis-audit-')
    header, *records = csv_rows(response)
    assert header[:8] == [
        "time (UTC)",
        "tenant",
        "actor",
        "action",
        "outcome",
        "role ARN",
        "RoleSessionName",
        "SourceIdentity",
    ]
    assert [(r[2], r[3], r[6], r[7]) for r in records] == [
        ("bob", "console.denied", "bob", "bob"),
        ("bob", "console.issued", "bob", "bob"),
    ]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_username == "alice"
    assert exported.tenant == world.tenant_a
    assert "user=bob" in exported.detail


def test_it_exports_every_record_across_batches_with_every_column(
    client, world, trail, monkeypatch
):
    # Six lines (a header and five records) in batches of four: the last batch is partial.
    monkeypatch.setattr("audit.views.CSV_BATCH_ROWS", 4)
    meta = RequestMeta(client_ip="192.0.2.7", user_agent="curl/8", request_id="req-1")
    issued = record(
        "cli.issued",
        actor=world.bob,
        tenant=world.tenant_a,
        meta=meta,
        role_arn=ROLE_A,
        duration_seconds=900,
        aws_request_id="aws-1",
        assumed_role_arn="arn:aws:sts::111111111111:assumed-role/AcmeAdmin/bob",
    )
    client.force_login(world.alice)
    _, *records = csv_rows(client.get("/audit/export.csv"))
    newest_first = AuditEvent.objects.for_user(world.alice, action="manage").order_by(
        "-created_at", "-id"
    )
    # Three records of the trail, the new one and the export's own record, none lost.
    assert [r[3] for r in records] == [e.action for e in newest_first]
    row = next(r for r in records if r[3] == "cli.issued")
    assert row == [
        issued.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "acme",
        "bob",
        "cli.issued",
        "issued",
        ROLE_A,
        "",
        "",
        "arn:aws:sts::111111111111:assumed-role/AcmeAdmin/bob",
        "900",
        "192.0.2.7",
        "curl/8",
        "req-1",
        "aws-1",
        "",
        "",
    ]
    trail_records = [r for r in records if r[3] != "membership.added"]
    assert trail_records[-1][1] == "acme" and trail_records[-1][9] == "3600"


def test_it_exports_nothing_of_another_tenant(client, world, trail):
    client.force_login(world.alice)
    body = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    assert "carol" not in body and "globex" not in body and ROLE_B not in body


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_it_defuses_spreadsheet_formulas(client, world, payload):
    event(world.tenant_a, "console.denied", user=world.bob, detail=payload)
    AuditEvent.objects.create(
        tenant=world.tenant_a, action="login.failed", actor_username=payload, user_agent=payload
    )
    client.force_login(world.alice)
    _, *records = csv_rows(client.get("/audit/export.csv"))
    cells = [cell for record in records for cell in record]
    assert f"'{payload}" in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]


def test_the_table_names_the_role_and_a_record_page_shows_every_field(client, world, trail):
    issued = event(
        world.tenant_a,
        "console.issued",
        user=world.bob,
        meta=RequestMeta(client_ip="198.51.100.7", request_id="req-77", user_agent="Firefox"),
        aws_request_id="aws-req-99",
        duration_seconds=5400,
    )
    client.force_login(world.alice)

    table = client.get("/audit/").content.decode()
    assert f'title="{ROLE_A}">AcmeAdmin</span>' in table and "111111111111" in table
    assert f'href="/audit/{issued.pk}/"' in table

    page = client.get(f"/audit/{issued.pk}/").content.decode()
    for shown in ["198.51.100.7", "req-77", "aws-req-99", "Firefox", ROLE_A, "1 hour 30 minutes"]:
        assert shown in page


def test_the_table_and_record_name_the_account_from_the_tenants_directory(client, world, trail):
    AwsAccount.objects.create(tenant=world.tenant_a, account_id="111111111111", name="Payments")
    # Another tenant's name for the same account never shows in Acme's trail.
    AwsAccount.objects.create(tenant=world.tenant_b, account_id="111111111111", name="Globex's")
    issued = event(world.tenant_a, "console.issued", user=world.bob)
    client.force_login(world.alice)

    table = client.get("/audit/").content.decode()
    assert 'title="AWS account 111111111111">Payments</span>' in table
    assert "Globex&#x27;s" not in table and "Globex's" not in table
    page = client.get(f"/audit/{issued.pk}/").content.decode()
    assert "AWS account" in page and "Payments" in page


def test_days_are_the_viewers_own(client, world):
    # 23:30 UTC on 14 January is already 15 January in Tokyo.
    late = datetime(2026, 1, 14, 23, 30, tzinfo=UTC)
    AuditEvent.objects.create(
        tenant=world.tenant_a, action="console.issued", actor_username="bob", created_at=late
    )
    client.force_login(world.alice)
    page = client.get("/audit/", {"since": "2026-01-15", "until": "2026-01-15"})
    assert rows(page) == [] and "your time zone, UTC" in page.content.decode()

    client.cookies["portcullis_tz"] = "Asia/Tokyo"
    page = client.get("/audit/", {"since": "2026-01-15", "until": "2026-01-15"})
    assert len(rows(page)) == 1 and "your time zone, Asia/Tokyo" in page.content.decode()
    assert len(rows(client.get("/audit/", {"until": "2026-01-14"}))) == 0
    # The first days of the calendar, east of UTC, are before its start: a message, no 500.
    for day in ("0001-01-01", "1969-12-31"):
        page = client.get("/audit/", {"since": day, "until": day})
        assert page.status_code == 200 and "Choose a date from 1970 on." in page.content.decode()


def test_a_record_page_is_for_its_tenants_reviewers_only(client, world, trail):
    globex = AuditEvent.objects.unscoped("test").get(detail="globex-secret")
    acme = AuditEvent.objects.unscoped("test").filter(tenant=world.tenant_a).first()

    client.force_login(world.alice)
    assert client.get(f"/audit/{globex.pk}/").status_code == 404
    client.force_login(world.bob)
    assert client.get(f"/audit/{acme.pk}/").status_code == 403


def test_postgresqls_copy_writes_the_same_export_as_python(world):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's; SQLite exports are written in Python")
    odd = [
        'a "quoted", comma, and\nnew line',
        "=cmd|' /C calc'!A0",
        "-1",
        "\tleading tab",
        "zoë 日本",
        "",
        "\\. a line COPY would end at",
    ]
    for n, text in enumerate(odd):
        record(
            "console.denied",
            actor_username=text or "nobody",
            tenant=world.tenant_a if n % 2 else None,
            meta=RequestMeta(
                client_ip=["2001:db8::7", "192.0.2.1", ""][n % 3], user_agent=text, request_id=""
            ),
            role_arn=ROLE_A if n % 2 else "",
            duration_seconds=None if n % 3 else 900,
            detail=text,
        )
    events = AuditEvent.objects.unscoped("test").order_by("-created_at", "-id")
    header = "header\r\n"

    def parsed(chunks):
        body = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
        return list(csv.reader(io.StringIO(body)))

    written, copied = parsed(_written_rows(events, header)), parsed(_copied_rows(events, header))
    assert len(copied) >= len(odd) + 1  # the header and at least these records
    assert copied == written
