"""Prometheus metrics at /metrics: who may scrape, and that the figures follow what happens.

Scrapes are read with prometheus-client's own parser. Counters live for the whole test
process, so each test compares a figure before and after what it does.
"""

import ipaddress
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import METRICS_TOKEN as TOKEN
from tests.conftest import PASSWORD, Client, samples, value
from tests.servers import ROOT, VENV_BIN, gunicorn

pytestmark = pytest.mark.django_db


def test_only_a_scraper_with_the_token_or_an_allowed_address_sees_metrics(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404  # nothing configured: nobody

    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 404
    # A forged X-Forwarded-For is not believed without a trusted proxy in front.
    assert (
        client.get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code
        == 404
    )
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_issuances_aws_calls_and_audit_writes_are_counted(
    client, world, bob_grant, sandbox, scraper
):
    before = scraper()
    client.force_login(world.bob)
    assert client.post(f"/console/{bob_grant.pk}/", {"duration": "3600"}).status_code == 200
    assert client.post("/console/999999/", {"duration": "3600"}).status_code == 404
    after = scraper()

    issued = {"kind": "console", "outcome": "issued", "tenant": "acme"}
    assert value(after, "portcullis_issuances_total", **issued) == (
        value(before, "portcullis_issuances_total", **issued) + 1
    )
    denied = {"kind": "console", "outcome": "denied", "tenant": "acme"}
    assert value(after, "portcullis_issuances_total", **denied) == (
        value(before, "portcullis_issuances_total", **denied) + 1
    )
    for operation in ["sts:AssumeRole", "signin:getSigninToken"]:
        ok = {"operation": operation, "outcome": "ok"}
        assert value(after, "portcullis_aws_call_seconds_count", **ok) == (
            value(before, "portcullis_aws_call_seconds_count", **ok) + 1
        )
    # requested, issued and denied: three records written, each timed.
    assert value(after, "portcullis_audit_write_seconds_count") == (
        value(before, "portcullis_audit_write_seconds_count") + 3
    )


def test_an_aws_failure_is_timed_under_its_error_code(client, world, bob_grant, sandbox, scraper):
    sandbox.faults = {"sts": "throttle"}
    before = scraper()
    client.force_login(world.bob)
    assert client.post(f"/console/{bob_grant.pk}/", {"duration": "3600"}).status_code == 503
    after = scraper()
    failed = {"operation": "sts:AssumeRole", "outcome": "Throttling"}
    assert value(after, "portcullis_aws_call_seconds_count", **failed) > value(
        before, "portcullis_aws_call_seconds_count", **failed
    )
    outcome = {"kind": "console", "outcome": "failed", "tenant": "acme"}
    assert value(after, "portcullis_issuances_total", **outcome) == (
        value(before, "portcullis_issuances_total", **outcome) + 1
    )


def test_sign_ins_lockouts_and_rate_limits_are_counted(
    client, world, bob_grant, sandbox, scraper, settings
):
    before = scraper()
    assert client.post("/login/", {"username": "bob", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    settings.ISSUE_LIMIT_PER_USER = 1
    client.post(f"/console/{bob_grant.pk}/", {"duration": "3600"})
    assert client.post(f"/console/{bob_grant.pk}/", {"duration": "900"}).status_code == 429
    stranger = Client()
    for _ in range(6):  # past the person's limit of 5 failures: locked
        stranger.post("/login/", {"username": "carol", "password": "wrong"})
    after = scraper()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("portcullis_sign_ins_total", method="password", outcome="failed") >= 6
    assert grew("portcullis_sign_ins_total", method="password", outcome="succeeded") == 1
    assert grew("portcullis_sign_ins_total", method="password", outcome="locked") >= 1
    assert grew("portcullis_lockouts_total") >= 1
    assert grew("portcullis_rate_limited_total", limit="issue") == 1


SIGN_IN_PAGE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_every_gunicorn_worker_reports_the_same_sums(tmp_path):
    """Two gunicorn workers: a scrape answered by either adds up both (multi-process mode)."""
    database = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    env = {
        "DATABASE_URL": database,
        "STATIC_ROOT": str(tmp_path / "static"),
        "METRICS_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    for step in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):  # the release
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *step],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            timeout=120,
        )
    failures = 16
    with gunicorn(tmp_path, WEB_CONCURRENCY="2", **env) as (base_url, log):

        def fail_to_sign_in(n):
            page = requests.get(f"{base_url}/login/", timeout=10)
            cookies = {c.name: c.value for c in page.cookies}  # Secure: carried by hand
            assert page.status_code == 200, log.read_text()[-3000:]
            token = SIGN_IN_PAGE.search(page.text).group(1)
            answer = requests.post(
                f"{base_url}/login/",
                data={"username": f"nobody{n}", "password": "x", "csrfmiddlewaretoken": token},
                cookies=cookies,
                timeout=10,
            )
            assert answer.status_code == 200

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fail_to_sign_in, range(failures)))
        counted = []
        for _ in range(6):
            scrape = requests.get(
                f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            )
            found = samples(scrape.text)
            counted.append(
                value(found, "portcullis_sign_ins_total", method="password", outcome="failed")
            )
    assert counted == [failures] * 6


def test_the_grafana_dashboard_asks_only_for_metrics_the_portal_has(scraper, settings):
    dashboard = json.loads((settings.BASE_DIR / "docs" / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for query in queries
        for name in re.findall(r"portcullis_[a-z_]+", query)
    }
    client = Client()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    families = {f.name for f in text_string_to_metric_families(response.content.decode())}
    # Read at scrape time only once there is something to read: the worker's heartbeat.
    families.add("portcullis_worker_heartbeat_age_seconds")
    assert len(asked) >= 12 and asked <= families, asked - families
