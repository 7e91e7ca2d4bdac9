"""`make bench`: measure the portal on this machine and rewrite docs/PERFORMANCE.md.

Everything runs on loopback against a throw-away PostgreSQL database and the sandbox AWS:
issuance through gunicorn against the bare AssumeRole + getSigninToken flow, the
self-service page with 200 grants, the audit trail at BENCH_AUDIT_ROWS (default 1 million)
records, the CSV export of all of them, and a worker's memory over 10 000 requests.
"""

import functools
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import requests  # noqa: E402

from bench import harness  # noqa: E402

AUDIT_ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", "1000000"))
# The audit pages are measured again once the trail holds this many records.
AUDIT_PAGE_ROWS = int(os.environ.get("BENCH_AUDIT_PAGE_ROWS", "10000000"))
ISSUANCES = int(os.environ.get("BENCH_ISSUANCES", "100"))
MEMORY_REQUESTS = int(os.environ.get("BENCH_MEMORY_REQUESTS", "10000"))
PASSWORD = "bench-password-for-loopback-only"
# The most the portal's own work should add to an issuance (docs/PERFORMANCE.md).
OWN_COST_TARGET_MS = 5
READ_ONLY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}'
)


def setup_django(env):
    os.environ.update(env)
    import django

    django.setup()


def seed():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import Membership, Tenant, User
    from federation import services

    tenant = Tenant.objects.create(slug="bench", name="Bench Corp")
    employee = User.objects.create_user("emp", password=PASSWORD)
    many = User.objects.create_user("many", password=PASSWORD)
    admin = User.objects.create_user("admin", password=PASSWORD, is_staff=True)
    for user, role in [(employee, "member"), (many, "member"), (admin, "admin")]:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    device = TOTPDevice.objects.create(user=admin, name="bench", confirmed=True)
    role_arn = services.create_broker_role(
        name="BenchAdmin", tenant=tenant, policy_document=READ_ONLY
    )
    grant = services.grant_role(
        actor=admin, tenant=tenant, user=employee, role_arn=role_arn, max_session_seconds=3600
    )
    for i in range(200):
        services.grant_role(
            actor=admin,
            tenant=tenant,
            user=many,
            role_arn=f"arn:aws:iam::{100000000000 + i % 7}:role/Team{i}",
            label=f"Team {i}",
        )
    return tenant, grant, device


def totp_for(device):
    from django_otp.oath import TOTP

    def code():
        device.refresh_from_db()
        # A new time step each time: the device refuses a code it has already seen.
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = max(time.time(), (device.last_t + 1) * device.step)
        return f"{totp.token():06d}"

    return code


def bare_flow(sandbox_url, role_arn, external_id):
    """The seed tutorial's flow, as short as it can be: AssumeRole, then getSigninToken."""
    import json

    import boto3

    sts = boto3.client("sts", endpoint_url=sandbox_url, region_name="us-east-1")
    http = requests.Session()

    def once():
        creds = sts.assume_role(
            RoleArn=role_arn, RoleSessionName="bare", ExternalId=external_id, DurationSeconds=3600
        )["Credentials"]
        session = {
            "sessionId": creds["AccessKeyId"],
            "sessionKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
        }
        token = http.post(
            f"{sandbox_url}/federation",
            data={"Action": "getSigninToken", "Session": json.dumps(session)},
            timeout=10,
        ).json()["SigninToken"]
        assert token

    return once


# Parts of an issuance, by the function that does them: (what, module, attribute).
PARTS = [
    (
        "the person, from the session (session row, account, provider's say)",
        "django.contrib.auth",
        "get_user",
    ),
    ("the grant, checked in the database", "federation.services.issuance", "_usable_grant"),
    (
        "the two audit records (`requested` not waiting for the disk, the outcome durable)",
        "federation.services.issuance",
        "record",
    ),
    ("STS AssumeRole (boto3 → sandbox)", "federation.aws", "assume_role"),
    ("getSigninToken (requests → sandbox)", "federation.aws", "get_signin_token"),
    ("the result page (template, navigation, account name)", "federation.views", "_result"),
]


def issuance_parts(grant, runs=100):
    """Where an issuance's time goes: wall-clock time in each part (PARTS) over `runs`
    in-process issuances through Django's test client, and the rest of the request."""
    import importlib

    from django.test import Client

    from accounts.models import User

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="emp"))
    spent = {name: 0.0 for name, _, _ in PARTS}
    originals = []
    for name, module_name, attribute in PARTS:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)

        @functools.wraps(original)
        def timed(*args, _original=original, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] += time.perf_counter() - started

        originals.append((module, attribute, original))
        setattr(module, attribute, timed)
    try:
        for _ in range(10):  # warm up, not counted
            client.post(f"/console/{grant.pk}/", {"duration": "3600"})
        spent = dict.fromkeys(spent, 0.0)
        started = time.perf_counter()
        for _ in range(runs):
            response = client.post(f"/console/{grant.pk}/", {"duration": "3600"})
            assert response.status_code == 200, response.status_code
        whole = (time.perf_counter() - started) / runs * 1000
    finally:
        for module, attribute, original in originals:
            setattr(module, attribute, original)
    parts = [(name, seconds / runs * 1000) for name, seconds in spent.items()]
    accounted = sum(ms for _, ms in parts)
    parts.append(
        (
            "everything else (middleware, CSRF, second factor, form, once-only check)",
            whole - accounted,
        )
    )
    return whole, parts


def audit_record(grant, *, durable=True):
    """One audit record committed on its own: waiting for the disk (as an issuance's outcome
    is written) or not (as its `requested` record is)."""
    from audit.records import record

    user = grant.user

    def once():
        record(
            "console.requested",
            actor=user,
            mapping=grant,
            role_session_name=user.username,
            durable=durable,
        )

    return once


def insert_audit_rows(tenant, n):
    """n chained records, written with COPY (the triggers allow inserts)."""
    from types import SimpleNamespace

    import psycopg

    from audit import chain as audit_chain
    from audit.models import AuditEvent

    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, previous = last or (0, audit_chain.GENESIS_HASH)
    start = datetime.now(UTC) - timedelta(seconds=n)
    actions = [
        "console.requested",
        "console.issued",
        "cli.requested",
        "cli.issued",
        "console.denied",
    ]
    # What the hash covers, plus the hash itself: the same columns the model writes.
    columns = [*audit_chain.HASHED_FIELDS_NOW, "key_id", "hash"]
    with psycopg.connect(f"{harness.PG}/{harness.DATABASE}") as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY federation_auditevent ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(n):
                sequence += 1
                user = f"user{i % 50}"
                event = SimpleNamespace(
                    sequence=sequence,
                    prev_hash=previous,
                    created_at=start + timedelta(seconds=i),
                    tenant_id=tenant.pk,
                    actor_username=user,
                    action=actions[i % len(actions)],
                    mapping_id=None,
                    actor_id=None,
                    content_version=audit_chain.CONTENT_VERSION,
                    role_arn=f"arn:aws:iam::123456789012:role/Role{i % 20}",
                    role_session_name=user,
                    source_identity=user,
                    duration_seconds=3600,
                    client_ip="10.0.0.1",
                    user_agent="bench",
                    request_id=f"{i:032x}",
                    aws_request_id="",
                    assumed_role_arn="",
                    error_code="",
                    detail="",
                    key_id=audit_chain.current_key_id(),
                )
                event.hash = previous = audit_chain.digest(event)
                copy.write_row([getattr(event, column) for column in columns])
        conn.commit()
        cursor.execute("ANALYZE federation_auditevent")
        conn.commit()


def settle():
    """What autovacuum would do after a load this size, done now rather than during the
    measurements: vacuum and analyse the trail, then write the dirty pages out."""
    import psycopg

    with psycopg.connect(f"{harness.PG}/{harness.DATABASE}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) federation_auditevent")
        conn.execute("CHECKPOINT")


def audit_pages(admin):
    """The audit pages a reviewer opens, timed through gunicorn, each checked to be the page
    with its 50 records."""
    from urllib.parse import urlencode

    from audit.models import AuditEvent
    from audit.views import PAGE_SIZE, _cursor

    total = AuditEvent.objects.count()
    deep = AuditEvent.objects.order_by("-created_at", "-id")[int(total * 0.9)]
    pages = {
        "`/audit/` first page": "/audit/",
        "`/audit/` deep page (90 % down)": f"/audit/?{urlencode({'after': _cursor(deep)})}",
        "`/audit/` filtered (person + action)": "/audit/?user=user7&action=cli.requested",
        "admin changelist (audit events)": "/admin/audit/auditevent/",
    }

    def page(path):
        response = admin.get(path)
        assert response.status_code == 200, (path, response.status_code)
        if path.startswith("/audit/"):
            assert response.text.count('<tr class="outcome-') == PAGE_SIZE, path

    return {
        name: harness.summary(harness.timed(lambda p=path: page(p), 30))
        for name, path in pages.items()
    }


def password_checks(n=20):
    """One password check's CPU time with Django's default PBKDF2 and with the portal's
    Argon2id, and the sign-ins a second the machine's cores can check at most with each."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.hashers import Argon2idPasswordHasher

    hashers = [
        ("PBKDF2-SHA256, 1,000,000 iterations (Django's default, before)", PBKDF2PasswordHasher()),
        ("Argon2id, 19 MiB, 2 passes, 1 lane (the portal's)", Argon2idPasswordHasher()),
    ]
    figures = []
    for name, hasher in hashers:
        encoded = hasher.encode(PASSWORD, hasher.salt())
        samples = []
        for _ in range(n):
            started = time.process_time()
            assert hasher.verify(PASSWORD, encoded)
            samples.append((time.process_time() - started) * 1000)
        stats = harness.summary(samples)
        figures.append((name, stats, psutil.cpu_count() * 1000 / stats["p50"]))
    return figures


def sign_ins_per_second(url, seconds=10, clients=4):
    """Whole sign-ins (the sign-in page, then the password) through gunicorn, `clients` at
    a time for `seconds`: what one worker of THREADS threads gives at saturation."""
    deadline = time.perf_counter() + seconds

    def client():
        done = 0
        while time.perf_counter() < deadline:
            signed_in = harness.Browserish(url).sign_in("emp", PASSWORD)
            assert "__Host-sessionid" in signed_in.cookies
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: client(), range(clients)))
    return total / (time.perf_counter() - started)


def worker_pids(master):
    return [child.pid for child in psutil.Process(master.pid).children()]


def rss_mb(pid):
    return psutil.Process(pid).memory_info().rss / 2**20


def main():
    report = []
    harness.recreate_database()
    with harness.sandbox() as sandbox_url:
        env = harness.portal_env(sandbox_url)
        setup_django(env)
        harness.manage(env, "migrate", "--noinput")
        harness.manage(env, "collectstatic", "--noinput")
        tenant, grant, device = seed()

        with harness.gunicorn(env, workers=1, extra_args=["--max-requests", "0"]) as server:
            cold_start = server.cold_start
            passwords = password_checks()
            sign_ins = sign_ins_per_second(server.url)
            with harness.gunicorn(
                {**env, "DJANGO_SETTINGS_MODULE": "bench.pbkdf2_settings"},
                workers=1,
                extra_args=["--max-requests", "0"],
            ) as before_argon2:
                # The first sign-in stores the password as PBKDF2 again; the rest check it.
                harness.Browserish(before_argon2.url).sign_in("emp", PASSWORD)
                sign_ins_pbkdf2 = sign_ins_per_second(before_argon2.url)
            # And back: this sign-in through the portal's settings re-hashes it. (A new hash
            # ends the person's other sessions: the one issuing below starts after it.)
            employee = harness.Browserish(server.url).sign_in("emp", PASSWORD)

            def portal_issue(person=employee):
                response = person.post(f"/console/{grant.pk}/", {"duration": "3600"})
                assert response.status_code == 200 and "console-url" in response.text

            # The same portal with its statements parsed and planned on every request, as
            # they were before DATABASE_PREPARED_STATEMENTS; all three flows taken in turns.
            with harness.gunicorn(
                {**env, "DATABASE_PREPARED_STATEMENTS": "false"},
                workers=1,
                extra_args=["--max-requests", "0"],
            ) as unprepared_server:
                unprepared_employee = harness.Browserish(unprepared_server.url).sign_in(
                    "emp", PASSWORD
                )
                portal, unprepared, bare = map(
                    harness.summary,
                    harness.alternating(
                        [
                            portal_issue,
                            functools.partial(portal_issue, unprepared_employee),
                            bare_flow(sandbox_url, grant.role_arn, tenant.external_id),
                        ],
                        ISSUANCES,
                    ),
                )
            profiled_ms, profile = issuance_parts(grant)
            # The floor under any issuance: a request that does nothing, and its two audit
            # records: `requested` before AWS (not waiting for the disk) and the outcome after
            # (durable before anything is handed out: fail closed).
            nothing = harness.Browserish(server.url)
            floor_http = harness.summary(harness.timed(lambda: nothing.get("/healthz"), ISSUANCES))
            floor_record = harness.summary(harness.timed(audit_record(grant), ISSUANCES))
            floor_async = harness.summary(
                harness.timed(audit_record(grant, durable=False), ISSUANCES)
            )
            # The same two flows with 100 ms added to every sandbox answer, about what STS and
            # the federation endpoint take from a data centre.
            requests.post(
                f"{sandbox_url}/_sandbox/faults",
                json={"sts": "slow", "federation": "slow", "delay": 0.1},
                timeout=5,
            )
            portal_slow = harness.summary(harness.timed(portal_issue, 20, warmup=1))
            bare_slow = harness.summary(
                harness.timed(
                    bare_flow(sandbox_url, grant.role_arn, tenant.external_id), 20, warmup=1
                )
            )
            requests.post(f"{sandbox_url}/_sandbox/faults", json={}, timeout=5)

            many = harness.Browserish(server.url).sign_in("many", PASSWORD)
            self_service = harness.summary(harness.timed(lambda: many.get("/"), 50))
            from django.db import connection
            from django.test import Client
            from django.test.utils import CaptureQueriesContext

            from accounts.models import User

            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(User.objects.get(username="many"))
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/").status_code == 200
            self_service_queries = len(queries)

            # Memory over many requests (a signed-in page), 4 at a time.
            worker = worker_pids(server)[0]
            for _ in range(200):
                employee.get("/")
            before = rss_mb(worker)
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda _: requests.get(
                            f"{server.url}/", cookies=employee.cookies, timeout=10
                        ),
                        range(MEMORY_REQUESTS),
                    )
                )
            after = rss_mb(worker)

            # The audit trail at scale.
            started = time.perf_counter()
            insert_audit_rows(tenant, AUDIT_ROWS)
            load_seconds = time.perf_counter() - started
            admin = harness.Browserish(server.url).sign_in("admin", PASSWORD, totp=totp_for(device))
            audit = audit_pages(admin)
            # The whole trail as CSV, with the worker's memory sampled throughout.
            samples, done = [], threading.Event()

            def sample():
                while not done.is_set():
                    samples.append(rss_mb(worker))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample)
            base_rss = rss_mb(worker)
            sampler.start()
            started = time.perf_counter()
            lines = 0
            with requests.get(
                f"{server.url}/audit/export.csv", cookies=admin.cookies, stream=True, timeout=600
            ) as response:
                for _ in response.iter_lines():
                    lines += 1
            export_seconds = time.perf_counter() - started
            done.set()
            sampler.join()

            # The pages again, once the trail is ten times larger.
            started = time.perf_counter()
            insert_audit_rows(tenant, AUDIT_PAGE_ROWS - AUDIT_ROWS)
            top_up_seconds = time.perf_counter() - started
            settle()
            audit_large = audit_pages(admin)

    machine = (
        f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()} {platform.release()}"
    )
    ratio, ratio_slow = portal["p50"] / bare["p50"], portal_slow["p50"] / bare_slow["p50"]
    # The part of the portal's own cost no issuance can skip.
    floor = floor_http["p50"] + floor_record["p50"] + floor_async["p50"]
    own = portal["p50"] - bare["p50"]
    report += [
        "# Performance",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the same command "
        "regenerates this page.",
        "",
        f"- Machine: {machine}; Python {platform.python_version()}; PostgreSQL on loopback.",
        f"- Portal: gunicorn with 1 worker of {harness.THREADS} threads, `DEBUG=false`, "
        "PostgreSQL; the sandbox AWS runs in its own process.",
        "- Latency in milliseconds, one client, sequential requests on loopback: median (p50), "
        "p90, min–max and count. This is a shared virtual machine: the same command has "
        "given figures up to 3× apart on different days, so compare figures within one run "
        "(the ratios below are).",
        "",
        "## Issuance overhead",
        "",
        "| flow | p50 | p90 | spread | n |",
        "|---|---|---|---|---|",
        harness.row("bare: AssumeRole + getSigninToken (boto3 + requests)", bare),
        harness.row("portal: `POST /console/<id>/` through gunicorn", portal),
        harness.row(
            "portal, statements not prepared (`DATABASE_PREPARED_STATEMENTS=false`)", unprepared
        ),
        harness.row("bare, sandbox answering in 100 ms", bare_slow),
        harness.row("portal, sandbox answering in 100 ms", portal_slow),
        "",
        f"**The portal's own cost is {own:.1f} ms an issuance** (portal p50 minus bare p50, "
        f"same run, same sandbox); the target is at most {OWN_COST_TARGET_MS} ms. Ratio of "
        f"medians, portal / bare: {ratio:.2f} on the instant sandbox, {ratio_slow:.2f} when "
        "AWS takes 100 ms a call. Against a sandbox that answers both calls in "
        f"{bare['p50']:.0f} ms the portal's fixed cost dominates: it signs the person in from "
        "the session, checks the grant, writes two audit records (before and after AWS) and "
        "renders the page. With AWS's real latency that cost is a small share.",
        "",
        "Three parts of an issuance cannot be left out, and were measured in the same run:",
        "",
        "| floor | p50 | p90 | spread | n |",
        "|---|---|---|---|---|",
        harness.row("`GET /healthz` through gunicorn (a request that does nothing)", floor_http),
        harness.row(
            "the outcome record, committed on its own and waiting for the disk", floor_record
        ),
        harness.row("the `requested` record, committed without waiting for the disk", floor_async),
        "",
        f"Together, {floor:.1f} ms of the {OWN_COST_TARGET_MS} ms, before the session, the "
        "grant check and the page are counted.",
        "",
        "**Why the `requested` record does not wait for the disk.** Fail-closed means no URL "
        "or credential leaves the portal without its outcome record durable: that record's "
        "commit waits for the disk (`synchronous_commit` as configured, on by default). The "
        "`requested` record written before AWS is asked only announces the call. It commits "
        "with `SET LOCAL synchronous_commit = off` for its own transaction, and PostgreSQL's "
        "write-ahead log is written in order, so the outcome's durable commit makes it durable "
        "too. A crash between the two loses the note that a session was being asked for, never "
        "a session handed out without its record; the chain stays whole, since a lost record "
        f"can only be the newest. Measured here: {floor_record['p50']:.2f} ms waiting for the "
        f"disk, {floor_async['p50']:.2f} ms not: a flush costs next to nothing on this "
        "machine's disk; the saving shows where a flush costs a round trip (a network "
        "volume).",
        "",
        f"Where an issuance's time goes (wall clock in each part over 100 in-process "
        f"issuances through Django's test client, {profiled_ms:.1f} ms each; the same code "
        "as through gunicorn, less the HTTP server):",
        "",
        "| part | ms per issuance |",
        "|---|---|",
        *[f"| {name} | {ms:.1f} |" for name, ms in profile],
        "",
        "**Statements prepared once a connection.** On PostgreSQL the portal binds "
        "parameters on the server and prepares a statement once its connection runs it a "
        "second time (`DATABASE_PREPARED_STATEMENTS`, on by default). Each of an issuance's "
        "queries (the session, the person, the grant, the chain's head, the records, the "
        "navigation) was otherwise parsed and planned anew on every request, and every value "
        "quoted into the SQL in Python. Connections live for `CONN_MAX_AGE`, so the plans are "
        "made once a minute a thread, not once a request. In this run, through gunicorn and "
        f"taken in turns with the bare flow: {portal['p50']:.1f} ms an issuance with them, "
        f"{unprepared['p50']:.1f} ms without ({unprepared['p50'] - portal['p50']:.1f} ms "
        "saved).",
        "",
        f"**What is left.** Above the floor, {own - floor:.1f} ms of the portal's own cost is "
        "Django's: building and compiling the ORM's queries, the middleware, the template. It "
        "is spread thin: outside AWS's two calls no part in the table above takes more than "
        f"{max(ms for name, ms in profile if 'sandbox' not in name):.1f} ms. Getting under the "
        f"{OWN_COST_TARGET_MS} ms target would mean writing the session read and the grant "
        "check as hand-made SQL beside the ORM's: a second copy of the rules the scoping door "
        "and `RoleMapping.objects.usable_by` hold, which could drift from the first. The "
        "portal keeps one copy. Against AWS's real latency the difference is the ratio above.",
        "",
        "## Self-service page with 200 grants",
        "",
        "| page | p50 | p90 | spread | n |",
        "|---|---|---|---|---|",
        harness.row("`GET /` with 200 grants", self_service),
        "",
        f"Queries per request: {self_service_queries}, the same as with one grant "
        "(`tests/portal/test_query_counts.py` holds that).",
        "",
        f"## Audit trail at {AUDIT_ROWS:,} and {AUDIT_PAGE_ROWS:,} records (PostgreSQL)",
        "",
        f"Loading them (hash chain computed in Python, then `COPY`): {AUDIT_ROWS:,} in "
        f"{load_seconds:.0f} s; the next {AUDIT_PAGE_ROWS - AUDIT_ROWS:,} in "
        f"{top_up_seconds:.0f} s ({(load_seconds + top_up_seconds) / 60:.1f} minutes for "
        f"{AUDIT_PAGE_ROWS:,}).",
        "",
        f"| page | p50 at {AUDIT_ROWS:,} | p50 at {AUDIT_PAGE_ROWS:,} | p90 | spread | n |",
        "|---|---|---|---|---|---|",
        *[
            f"| {name} | {audit[name]['p50']:.1f} | {stats['p50']:.1f} | {stats['p90']:.1f} | "
            f"{stats['min']:.1f}–{stats['max']:.1f} | {stats['n']} |"
            for name, stats in audit_large.items()
        ],
        "",
        "(p90 and spread at the larger size.) The pages are keyset-paginated on "
        "`(created_at, id)` with the tenant, person and role indexes leading: a deep page "
        "and a filtered one walk an index from where they start, and nothing counts the "
        "trail, so the cost does not grow with it.",
        "",
        f"CSV export of all {lines - 1:,} records: {export_seconds:.1f} s, "
        f"**{(lines - 1) / export_seconds:,.0f} rows/s**. Worker memory: {base_rss:.0f} MB before, "
        f"at most {max(samples):.0f} MB during, {samples[-1]:.0f} MB at the end: PostgreSQL "
        "writes the CSV itself (`COPY … TO STDOUT`) and its blocks stream out as they come, so "
        "memory stays flat.",
        "",
        "## Signing in with a password",
        "",
        "CPU time of one password check, in this process (the figure that bounds how many "
        "people a host signs in a second):",
        "",
        "| hasher | p50 | p90 | spread | n | sign-ins/s the CPUs can check |",
        "|---|---|---|---|---|---|",
        *[f"{harness.row(name, stats)} {rate:.0f} |" for name, stats, rate in passwords],
        "",
        f"Whole sign-ins through gunicorn (1 worker of {harness.THREADS} threads, 4 clients "
        f"at once for 10 s, each fetching the sign-in page and posting the password): "
        f"**{sign_ins_pbkdf2:.0f} a second** with PBKDF2 (before), **{sign_ins:.0f} a second** "
        "with Argon2id (now). Stored PBKDF2 hashes are re-hashed with Argon2id at each "
        "person's next sign-in.",
        "",
        "## Worker memory and start-up",
        "",
        f"- gunicorn worker RSS after 200 warm-up requests: {before:.1f} MB; after "
        f"{MEMORY_REQUESTS:,} more (signed-in `GET /`, 4 at a time): {after:.1f} MB "
        f"({after - before:+.1f} MB).",
        f"- Cold start, from spawning gunicorn to the first `/healthz` answer: "
        f"{cold_start * 1000:.0f} ms.",
        "",
    ]
    out = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"
    existing = out.read_text() if out.exists() else ""
    marker = "\n## Load and faults"
    tail = existing[existing.index(marker) :] if marker in existing else ""
    out.write_text("\n".join(report) + tail)
    print("\n".join(report))


if __name__ == "__main__":
    main()
