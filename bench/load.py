"""Load and faults, on loopback, bounded in count and time; rewrites the "Load and faults"
section of docs/PERFORMANCE.md.

1. Concurrent people issuing console URLs through 2 gunicorn workers (4 threads each) on
   PostgreSQL: every URL handed out has its `console.issued` record, no 5xx, the audit
   chain verifies.
2. The same while PostgreSQL restarts: clean 503s during the outage, still no URL without
   its record, and how long until issuance works again.
3. Each upstream fault the sandbox can play: what the person sees, how long it takes, the
   `console.failed` record, never a 500.
4. 100 concurrent wrong passwords for one account across the 2 workers: how far past the
   limit of 5 the lockout lets them go.
"""

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import requests  # noqa: E402

from bench import harness  # noqa: E402
from bench.run import PASSWORD, READ_ONLY, setup_django  # noqa: E402

PEOPLE = 20
LOAD_REQUESTS = int(os.environ.get("BENCH_LOAD_REQUESTS", "400"))
OUTAGE_SECONDS = int(os.environ.get("BENCH_OUTAGE_SECONDS", "25"))
URL_RE = re.compile(r'id="console-url" class="mono url" value="([^"]+)"')
TITLE_RE = re.compile(r"<h1>([^<]+)</h1>")


def seed():
    from accounts.models import Membership, Tenant, User
    from federation import services

    tenant = Tenant.objects.create(slug="load", name="Load Corp")
    role_arn = services.create_broker_role(
        name="LoadRole", tenant=tenant, policy_document=READ_ONLY
    )
    grants = []
    for i in range(PEOPLE):
        user = User.objects.create_user(f"person{i}", password=PASSWORD)
        Membership.objects.create(user=user, tenant=tenant)
        grants.append(
            (
                user.username,
                services.grant_role(actor=None, tenant=tenant, user=user, role_arn=role_arn),
            )
        )
    User.objects.create_user("target", password=PASSWORD)
    return grants


def issued_rows():
    from audit.models import AuditEvent

    return AuditEvent.objects.filter(action="console.issued").count()


def verify_chain():
    from django.core.management import call_command

    try:
        call_command("verify_audit", stdout=io.StringIO())
    except Exception as error:  # noqa: BLE001 - reported as the figure
        return f"BROKEN: {error}"
    return "intact"


def issue_many(url, sessions, total, deadline):
    """`total` console issuances from 8 threads, stopping at `deadline`."""
    results = []
    lock = threading.Lock()

    def one(i):
        if time.monotonic() > deadline:
            return
        client, grant = sessions[i % len(sessions)]
        started = time.monotonic()
        try:
            response = client.post(f"/console/{grant.pk}/", {"duration": "900"}, timeout=30)
            status, has_url = response.status_code, bool(URL_RE.search(response.text))
        except requests.RequestException:
            status, has_url = "no answer", False
        with lock:
            results.append((started, status, has_url))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(total)))
    return results


# Threads issuing at once, each step THROUGHPUT_SECONDS long: where issuances a second stop
# rising is the portal's capacity on this machine.
THROUGHPUT_STEPS = (1, 2, 4, 8, 16, 32)
THROUGHPUT_SECONDS = 8


# What the portal's database connections are doing, sampled during each throughput step:
# running a statement, and waiting for the audit chain's advisory lock.
ACTIVITY_SQL = """
    SELECT count(*) FILTER (WHERE state = 'active'),
           count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


class LockWaits:
    """Samples pg_stat_activity every 20 ms while a step runs: how many of the portal's
    connections were waiting for the chain's lock, on average, and how many were busy."""

    def __init__(self):
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        import psycopg

        with psycopg.connect(f"{harness.PG}/{harness.DATABASE}", autocommit=True) as conn:
            while not self.done.is_set():
                self.samples.append(conn.execute(ACTIVITY_SQL).fetchone())
                time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def average(self):
        """(connections running a statement, connections waiting for the lock), on average."""
        n = len(self.samples) or 1
        return (
            sum(active for active, _ in self.samples) / n,
            sum(waiting for _, waiting in self.samples) / n,
        )


def throughput(sessions):
    """Console issuances at rising concurrency: [(threads, per second, p50 ms, p99 ms,
    responses >= 500, how busy the machine's CPUs were in %, connections in a statement
    and connections waiting for the chain's lock on average)]."""
    steps = []
    for threads in THROUGHPUT_STEPS:
        latencies, errors = [], []
        lock = threading.Lock()
        deadline = time.monotonic() + THROUGHPUT_SECONDS

        def issue(n, deadline=deadline, latencies=latencies, errors=errors, lock=lock):
            i = n
            while time.monotonic() < deadline:
                client, grant = sessions[i % len(sessions)]
                i += len(THROUGHPUT_STEPS) * 7
                started = time.perf_counter()
                try:
                    status = client.post(
                        f"/console/{grant.pk}/", {"duration": "900"}, timeout=30
                    ).status_code
                except requests.RequestException:
                    status = 599
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
                    if status >= 500:
                        errors.append(status)

        started = time.monotonic()
        psutil.cpu_percent(interval=None)  # from here
        with LockWaits() as waits, ThreadPoolExecutor(threads) as pool:
            list(pool.map(issue, range(threads)))
        busy = psutil.cpu_percent(interval=None)
        elapsed = time.monotonic() - started
        stats = harness.summary(latencies)
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        steps.append(
            (threads, len(latencies) / elapsed, stats["p50"], p99, len(errors), busy)
            + waits.average()
        )
    return steps


def flattens(steps):
    """The concurrency from which more threads add less than a tenth to the rate."""
    for (_, before, *_), (threads, rate, *_) in zip(steps, steps[1:], strict=False):
        if rate < before * 1.1:
            return threads
    return None


def saturation(steps, flat):
    """What the throughput table says, in a sentence."""
    if flat is None:
        return "The rate still rises at the last step."
    best = max(rate for _, rate, *_ in steps)
    _, _, _, _, _, busy, _, waiting = next(step for step in steps if step[0] == flat)
    # The portal serves at most 2 workers x THREADS at once; the rest queue in front of it.
    in_flight = min(flat, 2 * harness.THREADS)
    if waiting >= in_flight / 2:
        cause = (
            f"on average {waiting:.1f} of the {in_flight} issuances in flight were waiting for the "
            "audit chain's one lock: the single chain is what limits it"
        )
    elif busy >= 80:
        cause = (
            "the limit is CPU (shared by gunicorn, PostgreSQL, the sandbox and this client): "
            f"on average only {waiting:.2f} of the {in_flight} issuances in flight were waiting "
            "for the audit chain's lock"
        )
    else:
        cause = (
            f"with cores idle and {waiting:.2f} issuances on average waiting for the audit "
            "chain's lock, something else waits"
        )
    threads, *_, active, queued = steps[-1]
    return (
        f"The rate stops rising at {flat} at once (less than a tenth more than the step "
        f"before), at most {best:.0f} issuances/s. At that step the CPUs were {busy:.0f} % "
        f"busy and {cause}. At {threads} at once, {queued:.2f} of the {active:.2f} "
        "connections in a statement were waiting for that lock: whatever time an issuance "
        "spends in the database is mostly spent queueing for the chain, so on a host whose "
        "CPUs are not the limit the single chain is the next thing to measure."
    )


def restart_postgres():
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"],
        check=True,
    )
    time.sleep(5)
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
    )


def pytest_counts(*args, env=None):
    """Run part of the suite; returns (passed, failed, output). Running nothing (a test
    file moved) is an error, not a figure of 0 of 0."""
    result = subprocess.run(
        [str(harness.BIN / "python"), "-m", "pytest", "-p", "no:xdist", "-q", *args],
        cwd=harness.ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    passed = re.search(r"(\d+) passed", result.stdout)
    failed = re.search(r"(\d+) failed", result.stdout)
    counts = (int(passed.group(1)) if passed else 0, int(failed.group(1)) if failed else 0)
    if not sum(counts):
        raise SystemExit(f"pytest ran no test for {args}:\n{result.stdout[-2000:]}")
    return (*counts, result.stdout)


def security_figures():
    """The suite's own security checks, run here for their figures (SQLite, as `make test`)."""
    counts = harness.VAR / "fuzz-counts.json"
    counts.parent.mkdir(parents=True, exist_ok=True)
    fuzz_passed, fuzz_failed, _ = pytest_counts(
        "tests/portal/test_fuzz.py", env={"FUZZ_EXAMPLES": "300", "FUZZ_REPORT": str(counts)}
    )
    seen = json.loads(counts.read_text()) if counts.exists() else {}
    inputs, endpoints = sum(seen.values()), len(seen)
    iso_passed, iso_failed, _ = pytest_counts("tests/portal/test_isolation.py")
    tamper_passed, tamper_failed, _ = pytest_counts(
        "tests/audit/test_chain.py", "-k", "names or notices"
    )
    secret_passed, secret_failed, _ = pytest_counts("tests/federation/test_secrets.py")
    return [
        "## Security figures",
        "",
        f"- Fuzzing (Hypothesis): {inputs:,} hostile inputs to {endpoints} forms and endpoints; "
        f"responses ≥ 500: {'0' if not fuzz_failed else 'SOME (see the failing test)'} "
        f"({fuzz_passed} property tests passed, {fuzz_failed} failed).",
        f"- Tenant isolation matrix: {iso_passed + iso_failed} probes, leaks found: {iso_failed}.",
        f"- Audit tampering (edit, edit with the hash recomputed, delete, reorder, cut the tail): "
        f"{tamper_passed} of {tamper_passed + tamper_failed} cases caught by `verify_audit`.",
        f"- Planted secrets in logs, error reports and the database: "
        f"{'0 hits' if not secret_failed else 'HITS'} ({secret_passed} checks).",
        "",
    ]


def main():
    lines = ["", "## Load and faults", ""]
    harness.recreate_database()
    with harness.sandbox() as sandbox_url:
        env = harness.portal_env(sandbox_url, AWS_READ_TIMEOUT="2", AWS_MAX_ATTEMPTS="2")
        setup_django(env)
        harness.manage(env, "migrate", "--noinput")
        harness.manage(env, "collectstatic", "--noinput")
        grants = seed()

        with harness.gunicorn(env, workers=2) as server:
            sessions = [
                (harness.Browserish(server.url).sign_in(name, PASSWORD), grant)
                for name, grant in grants
            ]
            # 1. Load with nothing lost.
            before = issued_rows()
            started = time.monotonic()
            results = issue_many(server.url, sessions, LOAD_REQUESTS, started + 120)
            elapsed = time.monotonic() - started
            urls = sum(has_url for _, _, has_url in results)
            errors = sum(isinstance(s, int) and s >= 500 for _, s, _ in results)
            rows = issued_rows() - before
            lines += [
                f"**Load.** {len(results)} console issuances by {PEOPLE} people, 8 at a time, "
                f"through 2 gunicorn workers of {harness.THREADS} threads on PostgreSQL in "
                f"{elapsed:.1f} s "
                f"({len(results) / elapsed:.0f}/s): {urls} URLs returned, {rows} `console.issued` "
                f"records, {errors} responses ≥ 500; audit chain {verify_chain()}.",
                "",
            ]

            # 1b. Throughput at rising concurrency.
            steps = throughput(sessions)
            flat = flattens(steps)
            lines += [
                f"**Throughput at saturation.** Console issuances through 2 gunicorn workers of "
                f"{harness.THREADS} threads on PostgreSQL, the sandbox answering at once, "
                f"{THROUGHPUT_SECONDS} s at each concurrency:",
                "",
                "| issuing at once | issuances/s | p50 ms | p99 ms | responses ≥ 500 | CPUs busy "
                "| connections in a statement | waiting for the chain's lock |",
                "|---|---|---|---|---|---|---|---|",
                *[
                    f"| {threads} | {rate:.0f} | {p50:.1f} | {p99:.1f} | {errors} | {busy:.0f} % "
                    f"| {active:.2f} | {waiting:.2f} |"
                    for threads, rate, p50, p99, errors, busy, active, waiting in steps
                ],
                "",
                "The last two columns sample PostgreSQL's `pg_stat_activity` every 20 ms during "
                "the step: the portal's connections running a statement, and those waiting "
                "for the advisory lock that serialises the audit chain, on average.",
                "",
                saturation(steps, flat),
                "",
            ]

            # 2. The same across a PostgreSQL restart.
            before = issued_rows()
            outage = threading.Thread(target=lambda: (time.sleep(3), restart_postgres()))
            started = time.monotonic()
            outage.start()
            results = []
            deadline = started + OUTAGE_SECONDS
            while time.monotonic() < deadline:
                results += issue_many(server.url, sessions, 16, deadline)
            outage.join()
            from django.db import connections

            connections.close_all()
            time.sleep(1)
            rows = issued_rows() - before
            urls = sum(has_url for _, _, has_url in results)
            statuses = {}
            for _, status, _ in results:
                statuses[status] = statuses.get(status, 0) + 1
            failures = [t for t, s, _ in results if s != 200]
            recovered = [t for t, s, _ in results if s == 200 and failures and t > max(failures)]
            recovery = (min(recovered) - min(failures)) if failures and recovered else 0
            lines += [
                f"**PostgreSQL restarted mid-run** (stopped {3} s in, down 5 s): "
                f"{len(results)} issuances; answers {dict(sorted(statuses.items(), key=str))}; "
                f"{urls} URLs returned and {rows} `console.issued` records (no URL without its "
                f"record); issuance worked again {recovery:.1f} s after the first failure; audit "
                f"chain {verify_chain()}.",
                "",
            ]

        # 3. Upstream faults.
        lines += [
            "**Upstream faults** (AWS read timeout 2 s, 2 attempts, for this run):",
            "",
            "| fault | status | page | time (s) | `console.failed` record |",
            "|---|---|---|---|---|",
        ]
        faults = [
            ("STS throttling", {"sts": "throttle"}),
            ("STS 500", {"sts": "500"}),
            ("STS malformed XML", {"sts": "malformed"}),
            ("STS slow past the timeout", {"sts": "slow", "delay": 5}),
            ("federation 500", {"federation": "500"}),
            ("federation without SigninToken", {"federation": "no-token"}),
            ("federation answers HTML", {"federation": "html"}),
            ("federation slow past the timeout", {"federation": "slow", "delay": 5}),
        ]
        closed = harness.free_port()
        cases = [(name, fault, env) for name, fault in faults] + [
            (
                "STS refusing connections",
                {},
                {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}"},
            )
        ]
        from audit.models import AuditEvent

        for name, fault, case_env in cases:
            with harness.gunicorn(case_env, workers=1) as server:
                username, grant = grants[0]
                client = harness.Browserish(server.url).sign_in(username, PASSWORD)
                requests.post(f"{sandbox_url}/_sandbox/faults", json=fault, timeout=5)
                last = AuditEvent.objects.order_by("-sequence").first().sequence
                started = time.monotonic()
                response = client.post(f"/console/{grant.pk}/", {"duration": "900"}, timeout=60)
                seconds = time.monotonic() - started
                requests.post(f"{sandbox_url}/_sandbox/faults", json={}, timeout=5)
                failed = AuditEvent.objects.filter(sequence__gt=last, action="console.failed")
                code = failed.first().error_code if failed.exists() else "none"
                title = TITLE_RE.search(response.text)
                lines.append(
                    f"| {name} | {response.status_code} | {title.group(1) if title else '?'} | "
                    f"{seconds:.2f} | {code} |"
                )
        lines.append("")

        # 4. Lockout under concurrency.
        from axes.models import AccessAttempt

        with harness.gunicorn(env, workers=2) as server:

            def wrong(_):
                client = harness.Browserish(server.url)
                client.csrf("/login/")
                return client.post(
                    "/login/", {"username": "target", "password": "wrong"}, timeout=30
                ).status_code

            with ThreadPoolExecutor(20) as pool:
                statuses = list(pool.map(wrong, range(100)))
            counted = sum(s == 200 for s in statuses)
            locked = sum(s == 429 for s in statuses)
            recorded = max(
                AccessAttempt.objects.filter(username="target").values_list(
                    "failures_since_start", flat=True
                ),
                default=0,
            )
        lines += [
            f"**Lockout under concurrency.** 100 wrong passwords for one account, 20 at a time, "
            f"across 2 gunicorn workers of {harness.THREADS} threads sharing PostgreSQL (limit 5): "
            f"{counted} "
            f"answered as an ordinary failed sign-in, {locked} with the lockout page; the failure "
            f"counter reached {recorded}. **Overshoot: {recorded - 5}** failures counted past the "
            "limit. A sign-in checks the lock before its password is tried, so attempts already "
            "past that check when the fifth failure lands still count: the overshoot is bounded "
            f"by the requests in flight at once (here at most 2 × {harness.THREADS}).",
            "",
        ]

    lines += security_figures()
    out = harness.ROOT / "docs" / "PERFORMANCE.md"
    text = out.read_text() if out.exists() else "# Performance\n"
    marker = "\n## Load and faults"
    head = text[: text.index(marker)] if marker in text else text.rstrip("\n") + "\n"
    out.write_text(head + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
