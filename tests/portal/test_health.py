import pytest


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
