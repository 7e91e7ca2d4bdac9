import ipaddress

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError

from federation import aws
from tests.conftest import METRICS_TOKEN


@pytest.mark.django_db
def test_it_answers_the_liveness_probe(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


@pytest.fixture
def readiness(client, settings):
    """/readyz as a caller that may read /metrics, and so its details: the response."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    return lambda: client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")


@pytest.mark.django_db
def test_it_is_ready_when_the_database_answers(readiness):
    response = readiness()
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    report = response.content.decode()
    assert report.startswith("database: ok\n") and "aws: credentials resolve\n" in report


@pytest.mark.django_db
def test_readiness_details_are_only_for_callers_that_may_read_metrics(client, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]

    anyone = client.get("/readyz", REMOTE_ADDR="192.0.2.9")
    wrong_token = client.get("/readyz", HTTP_AUTHORIZATION="Bearer wrong")
    scraper = client.get("/readyz", REMOTE_ADDR="10.1.2.3")

    assert (anyone.status_code, anyone.content) == (200, b"ready\n")
    assert wrong_token.content == b"ready\n"
    assert "aws: credentials resolve\n" in scraper.content.decode()


@pytest.mark.django_db
def test_the_probes_answer_plain_http_at_the_hosts_own_address_in_production(client, settings):
    # As behind a TLS-terminating proxy in production; a kubelet or a load balancer asks
    # the host itself over plain HTTP, with no X-Forwarded-Proto and its address as Host.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    as_a_kubelet = {"HTTP_HOST": "10.42.0.7:8000", "REMOTE_ADDR": "10.42.0.1"}

    alive = client.get("/healthz", **as_a_kubelet)
    ready = client.get("/readyz", **as_a_kubelet)

    assert (alive.status_code, alive.content) == (200, b"ok\n")
    assert (ready.status_code, ready.content) == (200, b"ready\n")
    # With the headers every answer carries.
    assert alive["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in alive
    # Every page else still goes to https, and answers only the site's own names.
    assert client.get("/login/").status_code == 301
    client.raise_request_exception = False
    assert client.get("/login/", secure=True, **as_a_kubelet).status_code == 400


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.mark.django_db
def test_readiness_reports_aws_credentials_that_do_not_resolve(readiness, no_aws_credentials):
    response = readiness()
    # Said, but the host stays in service: sign-in, approvals and the trail still work.
    assert response.status_code == 200
    assert "aws: no credentials found\n" in response.content.decode()


@pytest.mark.django_db
def test_the_credentials_are_looked_up_once_a_minute_not_per_probe(readiness, monkeypatch):
    aws.reset_clients()
    assert "aws: credentials resolve" in readiness().content.decode()
    # Gone from the environment: the probes within the minute still use what was found.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert readiness().status_code == 200
    assert "aws: credentials resolve" in readiness().content.decode()
    aws.reset_clients()  # as a minute later
    assert "aws: no credentials found" in readiness().content.decode()
    aws.reset_clients()


def test_it_refuses_to_write_to_the_probes(client):
    assert client.post("/healthz").status_code == 405


def test_an_unreachable_database_is_a_503_not_a_500(client, world, monkeypatch):
    def down(self, *args, **kwargs):
        raise OperationalError("connection refused")

    client.force_login(world.bob)
    monkeypatch.setattr(SessionStore, "load", down)
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"cannot reach its database" in response.content
    assert response["X-Request-ID"].encode() in response.content
