"""The sandbox AWS is safe to leave running on a laptop: nothing a web page can reach."""

import pytest
import requests

from sandbox import app as sandbox_module

EVIL = "http://evil.example"


def test_it_refuses_cors_preflights_and_sends_no_cors_headers(sandbox):
    preflight = requests.options(
        f"{sandbox.url}/",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=5,
    )
    assert preflight.status_code == 403
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("path", "data", "content_type"),
    [
        ("/", "Action=ListRoles&Version=2010-05-08", "application/x-www-form-urlencoded"),
        ("/_sandbox/faults", '{"sts": "throttle"}', "text/plain"),
        ("/moto-api/reset", "", "text/plain"),
    ],
)
def test_a_web_page_on_another_origin_changes_nothing(sandbox, path, data, content_type):
    response = requests.post(
        f"{sandbox.url}{path}",
        data=data,
        headers={"Origin": EVIL, "Content-Type": content_type},
        timeout=5,
    )
    assert response.status_code == 403
    assert sandbox.faults == {}
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_faults_are_set_only_as_json(sandbox):
    as_form = requests.post(f"{sandbox.url}/_sandbox/faults", data='{"sts": "throttle"}', timeout=5)
    assert as_form.status_code == 415 and sandbox.faults == {}
    broken = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        data="{",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert broken.status_code == 400
    ok = requests.post(f"{sandbox.url}/_sandbox/faults", json={"sts": "throttle"}, timeout=5)
    assert ok.status_code == 200 and sandbox.faults == {"sts": "throttle"}


def test_it_answers_only_to_a_loopback_host(sandbox):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name.
    rebound = requests.get(
        f"{sandbox.url}/_sandbox/faults", headers={"Host": "evil.example:5055"}, timeout=5
    )
    assert rebound.status_code == 403
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).status_code == 200


def test_moto_api_is_not_served(sandbox):
    assert requests.post(f"{sandbox.url}/moto-api/reset", timeout=5).status_code == 404


def test_it_listens_on_loopback_only():
    with pytest.raises(ValueError, match="loopback only"):
        sandbox_module.serve("0.0.0.0", 0)  # noqa: S104 - the address it must refuse
