"""Chatrk settings, read from the environment.

Two profiles: *embedded* (the default: SQLite in WAL mode and Huey on SQLite under ``CHATRK_VAR_DIR``)
and *scale* (``DATABASE_URL`` PostgreSQL, ``REDIS_URL`` Redis for Huey and the cache). Every knob is
listed in README.md; secrets that are not given are generated into the var directory (mode 0600).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils.csp import CSP

from chatrk.config import database_from_url, env_bool, env_int, env_list, load_or_create_secret, var_dir

VAR_DIR: Path = var_dir()
BASE_DIR = Path(__file__).resolve().parent

DEBUG = env_bool("CHATRK_DEBUG", default=False)
SECRET_KEY = os.environ.get("CHATRK_SECRET_KEY") or load_or_create_secret(VAR_DIR / "secret_key")

# The public origin Chatrk is reached at; https in production.
PUBLIC_URL = os.environ.get("CHATRK_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
_PUBLIC_HOST = PUBLIC_URL.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
ALLOWED_HOSTS = env_list("CHATRK_ALLOWED_HOSTS", default=[_PUBLIC_HOST, "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
# CIDRs of reverse proxies whose X-Forwarded-For is believed; no one else's is.
TRUSTED_PROXIES = env_list("CHATRK_TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "chatrk.core",
    "chatrk.accounts",
    "chatrk.audit",
    "chatrk.crypto",
    "chatrk.whatsapp",
    "chatrk.inbox",
    "chatrk.msgtemplates",
    "chatrk.policy",
    "chatrk.consent",
    "chatrk.outbound",
    "chatrk.ingest",
    "chatrk.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatrk.audit.middleware.SequencingLeftToWorkerMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "chatrk.accounts.middleware.ClientIpMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chatrk.accounts.middleware.SessionPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatrk.accounts.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "chatrk.urls"
WSGI_APPLICATION = "chatrk.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "chatrk.web.context.navigation",
            ],
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {"default": database_from_url(DATABASE_URL, VAR_DIR / "chatrk.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background work: django.tasks through Huey (SQLite embedded, Redis at scale).
HUEY: dict[str, Any] = (
    {"backend": "redis", "url": REDIS_URL}
    if REDIS_URL
    else {"backend": "sqlite", "path": str(VAR_DIR / "huey.sqlite3")}
)
TASKS = {"default": {"BACKEND": "chatrk.core.tasks_backend.HueyBackend"}}
# Tasks the worker runs on a schedule: import path → every N minutes.
PERIODIC_TASKS: dict[str, int] = {
    "chatrk.audit.tasks.publish_checkpoint_if_due": 1,
    "chatrk.msgtemplates.tasks.sync_all_templates": 15,
    "chatrk.inbox.tasks.wake_snoozed_conversations": 1,
    "chatrk.consent.tasks.send_consent_messages": 1,
    "chatrk.core.tasks.refresh_planner_statistics": 60,
    "chatrk.outbound.tasks.send_due_read_receipts": 1,
}

# Passwords (NIST SP 800-63B rev 4; 2FA is mandatory, so 12 is above the 8-character floor).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "chatrk.accounts.passwords.LengthValidator"},
    {"NAME": "chatrk.accounts.passwords.ContextWordsValidator"},
    {"NAME": "chatrk.accounts.passwords.BreachedPasswordValidator"},
]

# Sessions: server-side rows the user can list and revoke.
SESSION_ENGINE = "chatrk.accounts.sessions"
SESSION_IDLE_TIMEOUT = timedelta(seconds=env_int("CHATRK_SESSION_IDLE_SECONDS", default=3600))
SESSION_ABSOLUTE_TIMEOUT = timedelta(seconds=env_int("CHATRK_SESSION_ABSOLUTE_SECONDS", default=12 * 3600))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
REAUTH_WINDOW = timedelta(seconds=env_int("CHATRK_REAUTH_SECONDS", default=600))
SESSION_COOKIE_NAME = "__Host-chatrk_session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_NAME = "__Host-chatrk_csrf"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "chatrk.web.views.csrf_failure"

# Headers.
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = PUBLIC_URL.startswith("https://") and env_bool("CHATRK_SSL_REDIRECT", default=True)
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True

# Media files, each encrypted under its contact's key (chatrk.crypto.files).
MEDIA_DIR = Path(os.environ.get("CHATRK_MEDIA_DIR") or VAR_DIR / "media")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# Invitations, password-reset links and the first-run setup link.
INVITATION_TTL = timedelta(days=7)
SETUP_LINK_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(hours=24)

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CHATRK_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# Keys and encryption (docs/keys.md). The KEK never enters the database.
CRYPTO_KEK_PROVIDER = os.environ.get("CHATRK_KEK_PROVIDER", "file")  # file | env | aws-kms
CRYPTO_KEK_FILE = Path(os.environ.get("CHATRK_KEK_FILE") or VAR_DIR / "keys" / "kek.json")
CRYPTO_KEK_SECRET = os.environ.get("CHATRK_KEK", "")
CRYPTO_KEK_PREVIOUS_SECRETS = env_list("CHATRK_KEK_PREVIOUS", default=[])
CRYPTO_KMS_KEY_ID = os.environ.get("CHATRK_KMS_KEY_ID", "")
CRYPTO_KMS_REGION = os.environ.get("CHATRK_KMS_REGION") or os.environ.get("AWS_REGION", "us-east-1")
CRYPTO_KMS_ENDPOINT_URL = os.environ.get("CHATRK_KMS_ENDPOINT_URL", "")
# Ids of crypto-shredded keys, kept beside the KEK so a restored pre-erasure backup stays unreadable.
CRYPTO_ERASURE_LEDGER = Path(os.environ.get("CHATRK_ERASURE_LEDGER") or VAR_DIR / "keys" / "erasures.log")
# How long a process caches unwrapped data keys; rotation waits this long before its final sweep.
CRYPTO_KEY_CACHE_SECONDS = env_int("CHATRK_KEY_CACHE_SECONDS", default=5)

# Audit log (docs/audit.md): the log's origin line and checkpoint key name, how often a signed
# checkpoint is published, and where it is exported outside the database (file:/path or syslog).
AUDIT_LOG_ORIGIN = os.environ.get("CHATRK_AUDIT_ORIGIN") or f"{_PUBLIC_HOST}/chatrk/audit"
AUDIT_CHECKPOINT_EVERY = env_int("CHATRK_AUDIT_CHECKPOINT_EVERY", default=1000)
AUDIT_CHECKPOINT_MINUTES = env_int("CHATRK_AUDIT_CHECKPOINT_MINUTES", default=10)
AUDIT_SINK = os.environ.get("CHATRK_AUDIT_SINK") or f"file:{VAR_DIR / 'audit-checkpoints.jsonl'}"
