"""The portal as production runs it: gunicorn with gunicorn.conf.py."""

import socket
import time

import requests

from tests.conftest import METRICS_TOKEN
from tests.servers import gunicorn


def test_it_never_writes_query_strings_to_the_access_log(tmp_path):
    with gunicorn(tmp_path) as (base_url, log):
        response = requests.get(f"{base_url}/healthz?token=planted-secret-4242", timeout=5)
        assert response.status_code == 200
    text = log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert "planted-secret-4242" not in text


def test_it_reports_not_ready_while_the_database_is_down(tmp_path):
    # Nothing listens on port 1: a PostgreSQL server that is down.
    down = "postgres://portcullis@127.0.0.1:1/portcullis"
    with gunicorn(tmp_path, DATABASE_URL=down, METRICS_TOKEN=METRICS_TOKEN) as (base_url, _):
        assert requests.get(f"{base_url}/healthz", timeout=10).status_code == 200
        anyone = requests.get(f"{base_url}/readyz", timeout=10)
        scraper = requests.get(
            f"{base_url}/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
        )
    assert (anyone.status_code, anyone.text) == (503, "not ready\n")
    assert (scraper.status_code, scraper.text) == (503, "database: unavailable\n")


def test_it_reports_not_ready_when_the_sqlite_file_cannot_be_opened(tmp_path):
    missing = tmp_path / "no-such-dir" / "db.sqlite3"
    with gunicorn(tmp_path, DATABASE_URL=f"sqlite:///{missing}") as (base_url, _):
        response = requests.get(f"{base_url}/readyz", timeout=10)
    assert response.status_code == 503


def test_a_request_slower_than_the_worker_timeout_is_still_answered(tmp_path):
    # A long audit export streams for longer than GUNICORN_TIMEOUT; so, here, does a
    # readiness check against a database that accepts connections and never answers.
    # A sync worker would be killed mid-request; a threaded one keeps telling the master
    # it is alive.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        database = f"postgres://portcullis@127.0.0.1:{port}/portcullis?connect_timeout=4"
        with gunicorn(tmp_path, DATABASE_URL=database, GUNICORN_TIMEOUT="2") as (base_url, log):
            started = time.monotonic()
            response = requests.get(f"{base_url}/readyz", timeout=20)
            took = time.monotonic() - started
    assert response.status_code == 503
    assert took > 3, "the database check should have waited for its connect timeout"
    assert "WORKER TIMEOUT" not in log.read_text()
