import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError


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
