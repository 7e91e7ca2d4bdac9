"""A production install, from requirements.txt alone, without the sandbox's packages."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Makes the development-only packages impossible to import, as on a production host.
BLOCKER = """
import sys

class NotInstalled:
    BLOCKED = {"moto", "flask", "flask_cors", "werkzeug", "jinja2", "responses", "yaml"}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in requirements.txt)")
        return None

sys.meta_path.insert(0, NotInstalled())
"""

SERVE = """
import os
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
settings.STATIC_ROOT = os.environ["TEST_STATIC_ROOT"]  # the release step, into a temp dir
call_command("collectstatic", "--noinput", verbosity=0)
call_command("migrate", verbosity=0)
call_command("check", "--deploy", "--fail-level", "WARNING")
from django.test import Client
client = Client()
for path in ["/healthz", "/readyz", "/login/"]:
    response = client.get(path, secure=True)
    assert response.status_code == 200, (path, response.status_code)
import sys
assert "moto" not in sys.modules and "flask" not in sys.modules
print("served")
"""


def test_it_migrates_and_serves_without_the_sandbox_packages(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DJANGO_"))
        and key not in {"DEBUG", "DATABASE_URL", "ENV_FILE", "SECURE_SSL_REDIRECT"}
    }
    env.update(
        PYTHONPATH=str(tmp_path),
        DJANGO_SETTINGS_MODULE="portal.settings",
        ENV_FILE="",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_CHAIN_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.db'}",
        TEST_STATIC_ROOT=str(tmp_path / "static"),
        # The broker's credentials, as a deployment has them (readiness looks them up; no
        # AWS call is made with them here).
        AWS_ACCESS_KEY_ID="AKIDEXAMPLEBROKER",
        AWS_SECRET_ACCESS_KEY="broker-secret-for-the-readiness-check",
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("served")
