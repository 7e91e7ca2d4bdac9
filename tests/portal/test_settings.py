"""The settings module, loaded the way a real process loads it: in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_DATABASE = (
    "import django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(db['ENGINE'], db.get('OPTIONS', {}).get('transaction_mode'), "
    "db.get('CONN_MAX_AGE'), db.get('CONN_HEALTH_CHECKS'))"
)


def python(code, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_in_production_without_a_secret_key():
    result = python("import django; django.setup()")
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Portcullis refuses to start: SECRET_KEY is not set and DEBUG is off."
    )


def test_it_refuses_to_start_in_production_without_an_audit_chain_key():
    env = {k: v for k, v in os.environ.items() if k != "AUDIT_CHAIN_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            **env,
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Portcullis refuses to start: AUDIT_CHAIN_KEY is not set and DEBUG is off."
    )


def test_it_starts_in_production_with_a_secret_key():
    result = python(PRINT_DATABASE, SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["django.db.backends.sqlite3", "IMMEDIATE"]


def test_it_starts_in_development_without_a_secret_key():
    result = python("import django; django.setup(); print('up')", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "up"


def test_it_uses_wal_and_a_busy_timeout_on_sqlite(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); print(c.execute('PRAGMA journal_mode').fetchone()[0]); "
        "print(connection.settings_dict['OPTIONS']['timeout'])"
    )
    result = python(code, SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "20"]


def test_it_switches_to_postgresql_with_pooled_healthy_connections():
    result = python(
        PRINT_DATABASE, SECRET_KEY="x" * 50, DATABASE_URL="postgres://u@127.0.0.1:5432/portcullis"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "None", "60", "True"]
