"""What every benchmark needs: a PostgreSQL database, the sandbox AWS and gunicorn, all on
loopback, started fresh and stopped afterwards; a signed-in HTTP session; timing helpers."""

import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_DATABASE", "portcullis_bench")
VAR = ROOT / "var" / "bench"
# Threads per gunicorn worker in every run (gunicorn.conf.py's default), named in the report.
THREADS = 4


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One key for every process of a bench run: they all write to, and verify, one chain.
AUDIT_CHAIN_KEY = secrets.token_hex(32)


def portal_env(sandbox_url, **extra):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_hex(32),
        "AUDIT_CHAIN_KEY": AUDIT_CHAIN_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "AWS_PORTAL_SANDBOX": "true",
        "AWS_SANDBOX_URL": sandbox_url,
        "AWS_ENDPOINT_URL": sandbox_url,
        "AWS_FEDERATION_ENDPOINT": f"{sandbox_url}/federation",
        "ISSUE_LIMIT_PER_USER": "1000000",
        "ISSUE_LIMIT_PER_TENANT": "1000000",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def recreate_database():
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def manage(env, *args, stdin=None):
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def wait_for(url, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@contextmanager
def process(args, env, name):
    VAR.mkdir(parents=True, exist_ok=True)
    log = (VAR / f"{name}.log").open("w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def sandbox():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process(
        [str(BIN / "python"), "-m", "sandbox", "--port", str(port)],
        os.environ,
        "sandbox",
    ) as proc:
        wait_for(f"{url}/_sandbox/faults", proc)
        yield url


@contextmanager
def gunicorn(env, workers=1, extra_args=()):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(THREADS),
    }
    started = time.perf_counter()
    with process(
        [str(BIN / "gunicorn"), "portal.wsgi", "--access-logfile", "/dev/null", *extra_args],
        env,
        f"gunicorn-{port}",
    ) as proc:
        wait_for(f"{url}/healthz", proc)
        proc.cold_start = time.perf_counter() - started
        proc.url = url
        yield proc


class Browserish:
    """A requests session that signs in like a browser (the cookies are __Host- and Secure,
    which requests would not send over plain loopback HTTP, so they are carried by hand)."""

    def __init__(self, url):
        self.url = url
        self.http = requests.Session()
        self.cookies = {}

    def _keep(self, response):
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        return response

    def get(self, path, **kwargs):
        return self._keep(self.http.get(self.url + path, cookies=self.cookies, **kwargs))

    def post(self, path, data, **kwargs):
        token = self.cookies.get("__Host-csrftoken") or self.csrf(path)
        data = {**data, "csrfmiddlewaretoken": token}
        return self._keep(
            self.http.post(self.url + path, data=data, cookies=self.cookies, **kwargs)
        )

    def csrf(self, path="/login/"):
        page = self.get(path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        return match.group(1) if match else ""

    def sign_in(self, username, password, totp=None):
        self.csrf("/login/")
        self.post("/login/", {"username": username, "password": password}, allow_redirects=False)
        if totp is not None:
            self.post("/login/verify/", {"code": totp()}, allow_redirects=False)
        return self


def timed(fn, n, warmup=3):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def alternating(fns, n, rounds=4, warmup=3):
    """`n` timings of each of `fns`, taken in turns (`rounds` of n / rounds each): a host
    whose speed drifts during the run weighs on each of them alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for taken, fn in zip(samples, fns, strict=True):
            taken += timed(fn, n // rounds, warmup=0)
    return samples


def summary(samples):
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p90": ordered[int(len(ordered) * 0.9) - 1],
        "min": ordered[0],
        "max": ordered[-1],
    }


def row(name, stats, unit="ms"):
    return (
        f"| {name} | {stats['p50']:.1f} | {stats['p90']:.1f} | "
        f"{stats['min']:.1f}–{stats['max']:.1f} | {stats['n']} |"
    )
