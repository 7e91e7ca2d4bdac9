"""Portcullis settings: one module, driven by the environment.

Every value comes from an environment variable (or `.env` beside manage.py) read with
django-environ. The defaults suit a laptop; production sets SECRET_KEY, ALLOWED_HOSTS,
DATABASE_URL and friends. With DEBUG off and no SECRET_KEY the process refuses to start.
"""

import ipaddress
import os
import sys
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `.env` beside manage.py (`make run` writes one for development); ENV_FILE names another,
# or none when empty. Variables already in the environment win over the file.
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        sys.exit("Portcullis refuses to start: SECRET_KEY is not set and DEBUG is off.")
    # Development only: a fixed key so sessions survive a restart of `make run`.
    SECRET_KEY = "django-insecure-development-key-never-use-in-production"

# The audit trail's records are chained with HMAC-SHA256 under this key, which lives outside
# the database: someone who can write to the database but lacks the key cannot rewrite the
# trail without `verify_audit` noticing. Rotate by moving the old key to
# AUDIT_CHAIN_OLD_KEYS (comma-separated, oldest first), so the records it signed still
# verify; no record may be signed with an older key than the record before it.
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
if not AUDIT_CHAIN_KEY:
    if not DEBUG:
        sys.exit("Portcullis refuses to start: AUDIT_CHAIN_KEY is not set and DEBUG is off.")
    AUDIT_CHAIN_KEY = "development-audit-chain-key-never-use-in-production"
AUDIT_CHAIN_OLD_KEYS = env.list("AUDIT_CHAIN_OLD_KEYS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Number of reverse proxies in front of the portal that append to X-Forwarded-For.
# 0 (the default) means the client address is REMOTE_ADDR and X-Forwarded-For is ignored.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- AWS -------------------------------------------------------------------------------
# The sandbox (the embedded default) is a local stand-in for STS, IAM and the federation
# endpoint (`python -m sandbox`, started by `make run`). It is reached through
# boto3's own variables, set here only where the environment has not set them already,
# so AWS_ENDPOINT_URL_STS and friends keep working as boto3 documents them.
# On by default in development (DEBUG), off in production.
AWS_PORTAL_SANDBOX = env.bool("AWS_PORTAL_SANDBOX", default=DEBUG)
AWS_SANDBOX_URL = env.str("AWS_SANDBOX_URL", default="http://127.0.0.1:5055").rstrip("/")
if AWS_PORTAL_SANDBOX:
    for name, value in {
        "AWS_ENDPOINT_URL": AWS_SANDBOX_URL,
        "AWS_ACCESS_KEY_ID": "sandbox-broker",
        "AWS_SECRET_ACCESS_KEY": "sandbox-broker-secret",  # noqa: S105 - not a secret
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ.setdefault(name, value)

# Where getSigninToken and Action=login go. Empty: AWS's own endpoint for the role's
# partition (regional when AWS_SIGNIN_REGION is set).
AWS_FEDERATION_ENDPOINT = env.str(
    "AWS_FEDERATION_ENDPOINT",
    default=f"{AWS_SANDBOX_URL}/federation" if AWS_PORTAL_SANDBOX else "",
)
AWS_SIGNIN_REGION = env.str("AWS_SIGNIN_REGION", default="")
# Where AWS sends people when their console session ends: this portal.
PORTAL_ISSUER_URL = env.str("PORTAL_ISSUER_URL", default="http://127.0.0.1:8000/")
# Wrap console links in AWS's sign-out URL, so a browser signed in to another principal
# is signed out first instead of failing.
AWS_SIGN_OUT_FIRST = env.bool("AWS_SIGN_OUT_FIRST", default=False)
# Every call to AWS is bounded: connect + read timeouts per attempt, and botocore's
# `standard` retry mode with this many attempts in all. The worst case stays well under
# the gunicorn worker timeout.
AWS_CONNECT_TIMEOUT = env.float("AWS_CONNECT_TIMEOUT", default=3.0)
AWS_READ_TIMEOUT = env.float("AWS_READ_TIMEOUT", default=8.0)
AWS_MAX_ATTEMPTS = env.int("AWS_MAX_ATTEMPTS", default=3)

INSTALLED_APPS = [
    "core.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "csp",
    "axes",
    "audit",
    "accounts",
    "federation",
    # The background worker (notifications): before access, whose admin takes its pages over.
    "django_tasks",
    "django_tasks_db",
    "access",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    # Header middleware comes before whitenoise, so static files get the headers too.
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The probes, with the headers but before the host check and the session.
    "core.middleware.ProbeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RejectNulMiddleware",
    "core.middleware.OutOfRangeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.CurrentRequestMiddleware",
    # From here on, a tenant-owned model read without for_user() is an error.
    "core.scoping.ScopingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.SessionTimeoutMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "core.middleware.TimeZoneMiddleware",
    "core.middleware.PrivateCacheMiddleware",
    # Last, so that it sees the lockout flag set by the authentication backend.
    "axes.middleware.AxesMiddleware",
    # The portal's own errors, as pages or JSON, wherever a view lets one through.
    "core.middleware.PortalErrorMiddleware",
]

# --- headers ------------------------------------------------------------------------------
# The console URL is a bearer credential: no Referer ever leaves for another origin.
# Not "no-referrer": with it, browsers send `Origin: null` on the portal's own form posts,
# which CSRF protection must refuse, so nobody could sign in.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere: the copy button's script is a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The preload flag only allows submitting the domain to browsers' lists; it adds nothing
    # until the operator does so.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # A kubelet or a load balancer probes over plain HTTP (core.middleware.ProbeMiddleware).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if TRUSTED_PROXY_COUNT:
    # The proxy terminates TLS and says so; only trusted when a proxy is declared.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- sessions -------------------------------------------------------------------------------
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_HOURS", default=12) * 3600
# Issuing credentials needs a sign-in (or a fresh second-factor code) younger than this.
REAUTH_SECONDS = env.int("REAUTH_MINUTES", default=240) * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    # __Host-: Secure, no Domain, Path=/ — the browser refuses to let a subdomain set it.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- API tokens -------------------------------------------------------------------------------
# People choose how long a token works, from a day up to this many days (at most 90).
API_TOKEN_MAX_DAYS = max(1, min(env.int("API_TOKEN_MAX_DAYS", default=90), 90))
API_TOKEN_DEFAULT_DAYS = min(30, API_TOKEN_MAX_DAYS)

# --- second factor --------------------------------------------------------------------------
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Portcullis")
OTP_RECOVERY_CODES = 10
# Passkeys (accounts/passkeys.py). WEBAUTHN_RP_ID is the domain passkeys are bound to
# (changing it later orphans every passkey) and WEBAUTHN_ORIGINS the origins they may be
# used from. Defaults: the first host name in ALLOWED_HOSTS over https; in development
# localhost (WebAuthn needs a domain name, not 127.0.0.1: use http://localhost:8000).
_host_names = [h.lstrip(".") for h in ALLOWED_HOSTS if h != "*" and not h[:1].isdigit()]
_host_names = [h for h in _host_names if not h.startswith("[")]
WEBAUTHN_RP_ID = env.str(
    "WEBAUTHN_RP_ID", default="localhost" if DEBUG else (_host_names or ["localhost"])[0]
)
WEBAUTHN_ORIGINS = env.list(
    "WEBAUTHN_ORIGINS",
    default=[f"http://localhost:{env.int('PORT', default=8000)}"]
    if DEBUG
    else [f"https://{WEBAUTHN_RP_ID}"],
)
WEBAUTHN_RP_NAME = env.str("WEBAUTHN_RP_NAME", default="Portcullis")
OTP_WEBAUTHN_RP_ID = WEBAUTHN_RP_ID
OTP_WEBAUTHN_ALLOWED_ORIGINS = WEBAUTHN_ORIGINS
OTP_WEBAUTHN_RP_NAME = WEBAUTHN_RP_NAME
OTP_WEBAUTHN_HELPER_CLASS = "accounts.passkeys.PasskeyHelper"
# A second factor after the password or the company's provider, never a way in by itself.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# --- rate limits on issuance (per window, per person and per tenant) ------------------------
ISSUE_LIMIT_WINDOW_SECONDS = env.int("ISSUE_LIMIT_WINDOW_SECONDS", default=60)
ISSUE_LIMIT_PER_USER = env.int("ISSUE_LIMIT_PER_USER", default=20)
ISSUE_LIMIT_PER_TENANT = env.int("ISSUE_LIMIT_PER_TENANT", default=300)

# --- access on request and its notifications ----------------------------------------------
# Access on request (docs: README "Access on request").
# A pending request nobody decides within this many seconds expires (default a day).
ACCESS_REQUEST_TTL = env.int("ACCESS_REQUEST_TTL", default=24 * 3600)
# How often the clock process ends windows, expires and escalates requests, sends the
# ten-minute reminders and prunes ended-access statements.
ACCESS_CLOCK_SECONDS = env.int("ACCESS_CLOCK_SECONDS", default=30)

# Notifications: e-mail through EMAIL_URL (smtp://user:password@host:587/?tls=True; the
# console in development), and per tenant Slack, Teams and signed JSON webhooks, delivered
# by the background worker (Django's tasks API, the database backend by default).
EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"
)
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portcullis <portcullis@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Seconds between delivery attempts; a channel still failing after the last one leaves a
# notification.failed record.
NOTIFICATION_RETRY_SECONDS = env.list(
    "NOTIFICATION_RETRY_SECONDS", cast=int, default=[30, 120, 600, 1800]
)
NOTIFICATION_TIMEOUT_SECONDS = env.float("NOTIFICATION_TIMEOUT_SECONDS", default=5.0)
# Webhook URLs on loopback, private or link-local addresses are refused (server-side request
# forgery) unless this is on: for a receiver inside the company network.
NOTIFICATION_ALLOW_PRIVATE_URLS = env.bool("NOTIFICATION_ALLOW_PRIVATE_URLS", default=False)
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": [],
    }
}

# The background worker is alive when its heartbeat task (queued by the access clock) ran
# lately; the queue is stuck, and /readyz answers 503, when a task due this long ago still
# waits. Finished tasks are kept this many days, then the clock deletes them.
WORKER_HEARTBEAT_STALE_SECONDS = env.int("WORKER_HEARTBEAT_STALE_SECONDS", default=180)
QUEUE_STUCK_SECONDS = env.int("QUEUE_STUCK_SECONDS", default=600)
TASK_RESULTS_KEEP_DAYS = env.int("TASK_RESULTS_KEEP_DAYS", default=7)

# Prometheus metrics at /metrics: for a scraper that sends `Authorization: Bearer
# METRICS_TOKEN`, or from an address in METRICS_ALLOWED_IPS (addresses or networks, e.g.
# 10.0.0.0/8). Neither set: /metrics is a 404 for everyone.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(entry, strict=False) for entry in METRICS_ALLOWED_IPS
    ]
except ValueError as error:
    sys.exit(f"Portcullis refuses to start: METRICS_ALLOWED_IPS has {error}.")

# --- streaming the audit trail to SIEMs (audit sinks; README "Streaming the audit trail") ---
# Records per batch, and how long one batch's exchange with a receiver may take.
AUDIT_SINK_BATCH = env.int("AUDIT_SINK_BATCH", default=500)
AUDIT_SINK_TIMEOUT_SECONDS = env.float("AUDIT_SINK_TIMEOUT_SECONDS", default=10.0)
# Seconds between attempts while a receiver fails; the last repeats until it takes records.
AUDIT_SINK_RETRY_SECONDS = env.list(
    "AUDIT_SINK_RETRY_SECONDS", cast=float, default=[1, 5, 15, 60, 300]
)
# A committed record queues a delivery this long after: records written meanwhile share it.
AUDIT_SINK_KICK_SECONDS = env.float("AUDIT_SINK_KICK_SECONDS", default=1.0)
# Tenants' sinks on loopback, private or link-local addresses (and plain http) are refused
# unless this is on; the operator's sink may always be inside the company network.
AUDIT_SINK_ALLOW_PRIVATE = env.bool("AUDIT_SINK_ALLOW_PRIVATE", default=False)

# Local memory by default (one process); Redis through CACHE_URL in production, so every
# worker counts against the same limits.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.approvals_waiting",
            ],
            # core is no app: its template filters are named here.
            "libraries": {"units": "core.templatetags.units"},
        },
    },
]

# Database: an SQLite file beside manage.py unless DATABASE_URL says otherwise.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work beside a writer; IMMEDIATE takes the write lock when a
    # transaction starts, so two workers wait on the busy timeout instead of failing
    # with "database is locked" halfway through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if "postgresql" in DATABASES["default"]["ENGINE"] and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Parameters bound by the server, and a statement run a second time on a connection is
    # prepared (psycopg prepares once a statement has run `prepare_threshold` times):
    # PostgreSQL parses and plans each page's queries once per connection, not on every
    # request, and psycopg no longer quotes every value in Python. docs/OPERATIONS.md says
    # what a pooler in front must do, and what a migration means for running processes.
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "server_side_binding": True,
        "prepare_threshold": 1,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's, except for people whose identity provider does not allow passwords.
    "accounts.backends.PasswordBackend",
    # Sessions that signed in through the tenant's identity provider (no password checked).
    "accounts.backends.ProviderBackend",
]

# Argon2id first; the others only read hashes stored before it, each re-hashed with Argon2id
# at its owner's next sign-in.
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in lockout (django-axes, with the rules in accounts/lockout.py). A person (the
# username, case-folded) is locked after LOGIN_FAILURE_LIMIT failures from one address and
# after LOGIN_FAILURE_LIMIT_ANYWHERE from anywhere; an address is locked only when it fails
# across many usernames (LOGIN_ADDRESS_FAILURE_LIMIT, password spraying), because an office
# NAT or a VPN puts a whole company behind one address. Failures during a lockout do not
# extend it, so a locked-out person knows when to come back.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_LIMIT_ANYWHERE = env.int("LOGIN_FAILURE_LIMIT_ANYWHERE", default=10)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
AXES_HANDLER = "accounts.lockout.LockoutHandler"
# The handler counts how many of the rules an attempt breaks: one is enough.
AXES_FAILURE_LIMIT = 1
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
# What a successful sign-in clears: that person's failures. Never an address's, or a
# sprayer could reset their counter by signing in to an account of their own.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.lockout.username_for_lockout"
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False

# Signing in through a tenant's identity provider (OpenID Connect; accounts/oidc.py).
# Providers must be https on public addresses; SSO_ALLOW_PRIVATE_ISSUERS also allows
# addresses inside the company network (a Keycloak on 10.x). Plain http to this machine is
# allowed with DEBUG on only (the development sandbox and the tests).
SSO_ALLOW_PRIVATE_ISSUERS = env.bool("SSO_ALLOW_PRIVATE_ISSUERS", default=False)
SSO_TIMEOUT_SECONDS = env.float("SSO_TIMEOUT_SECONDS", default=10.0)
# How long discovery documents and key sets are kept (an unknown key id refreshes at once).
SSO_METADATA_SECONDS = env.int("SSO_METADATA_SECONDS", default=3600)
# Clock difference tolerated between the portal and a provider (iat, exp).
SSO_CLOCK_SKEW_SECONDS = env.int("SSO_CLOCK_SKEW_SECONDS", default=60)
# Sign-ins through providers per client address per minute: this many may start, and this
# many come back from the provider (one sign-in is one of each).
SSO_ATTEMPTS_PER_MINUTE = env.int("SSO_ATTEMPTS_PER_MINUTE", default=20)
# Providers that sign in anyone's personal account as well as companies' accounts: their ID
# tokens must name the company's domain in `hd`, one of the tenant's approved domains (a
# personal Google account registered with a company address has no `hd`).
SSO_HOSTED_DOMAIN_ISSUERS = env.list(
    "SSO_HOSTED_DOMAIN_ISSUERS", default=["https://accounts.google.com"]
)
# Keys that seal stored secrets such as client secrets (core/sealing.py): the first seals,
# all open. Empty: a key derived from SECRET_KEY.
SEALING_KEYS = env.list("SEALING_KEYS", default=[])

LANGUAGE_CODE = "en-us"
# The admin writes times as the portal's pages do: "2026-12-07 00:26 UTC".
FORMAT_MODULE_PATH = ["portal.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts the files whitenoise serves (the release step).
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One JSON object per line, with the request id, user and tenant of the request being
# served: a newline in a username cannot forge a line.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "core.logging.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "core.logging.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # botocore at DEBUG prints raw STS responses, credentials included.
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # axes says "deleted 0 attempts" at INFO on every sign-in; the audit trail has it all.
        "axes": {"level": "WARNING"},
    },
}
