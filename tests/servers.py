"""Start real server processes on loopback for tests, and stop them afterwards."""

import datetime
import ipaddress
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_certificate(tmp_path, host="127.0.0.1"):
    """A certificate for `host` (an address or a name) that is its own authority, for a TLS
    server on loopback: (its PEM, the certificate file, the key file)."""
    try:
        alternative_name = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alternative_name = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([alternative_name]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = tmp_path / f"{host}.crt", tmp_path / f"{host}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem, cert_file, key_file


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
