"""Start real server processes on loopback for tests, and stop them afterwards."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, log, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or (on a busy machine) not answering yet.
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {seconds}s:\n{log.read_text()}")


@contextmanager
def running(process):
    """Stop `process` when the block ends, however it ends."""
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def gunicorn(tmp_path, **env_overrides):
    """gunicorn with the project's gunicorn.conf.py; yields (base_url, log_path)."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    env.update(env_overrides)
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "portal.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    with running(process):
        wait_until_up(f"{base_url}/healthz", process, log)
        yield base_url, log


IDP_DIR = ROOT / "tests" / "idp"


def identity_provider_missing():
    """Why the real OpenID provider cannot run here ('' when it can)."""
    if shutil.which("node") is None:
        return "Node.js is not installed (the tests' OpenID provider runs on it)"
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        return "the tests' OpenID provider is not installed: run `npm ci` in tests/idp"
    return ""


@contextmanager
def identity_provider(tmp_path, *, clients, accounts):
    """panva's oidc-provider on a free loopback port (tests/idp/server.js); yields its
    issuer URL."""
    port = free_port()
    log = tmp_path / "idp.log"
    config = {"port": port, "clients": clients, "accounts": accounts}
    with log.open("w") as out:
        process = subprocess.Popen(
            [shutil.which("node"), str(IDP_DIR / "server.js")],
            cwd=IDP_DIR,
            env={**os.environ, "IDP_CONFIG": json.dumps(config)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    issuer = f"http://127.0.0.1:{port}"
    with running(process):
        wait_until_up(f"{issuer}/.well-known/openid-configuration", process, log)
        yield issuer
