import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError

from federation import aws


@pytest.mark.django_db
def test_it_answers_the_liveness_probe(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


@pytest.mark.django_db
def test_it_is_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    report = response.content.decode()
    assert report.startswith("database: ok\n") and "aws: credentials resolve\n" in report


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
def test_readiness_reports_aws_credentials_that_do_not_resolve(client, no_aws_credentials):
    response = client.get("/readyz")
    # Said, but the host stays in service: sign-in, approvals and the trail still work.
    assert response.status_code == 200
    assert "aws: no credentials found\n" in response.content.decode()


@pytest.mark.django_db
def test_the_credentials_are_looked_up_once_a_minute_not_per_probe(client, monkeypatch):
    aws.reset_clients()
    assert "aws: credentials resolve" in client.get("/readyz").content.decode()
    # Gone from the environment: the probes within the minute still use what was found.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert client.get("/readyz").status_code == 200
    assert "aws: credentials resolve" in client.get("/readyz").content.decode()
    aws.reset_clients()  # as a minute later
    assert "aws: no credentials found" in client.get("/readyz").content.decode()
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
