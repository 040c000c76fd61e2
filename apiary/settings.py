"""Django settings for Apiary. Everything configurable comes from the environment (config.py)."""

from __future__ import annotations

import contextlib
import os
import sys

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from apiary import config as _config

CONFIG = _config.load()
if CONFIG.errors:
    # Refuse to start half-configured; `apiary check` prints the same list in plain words.
    raise ImproperlyConfigured("Apiary is misconfigured:\n- " + "\n- ".join(CONFIG.errors))

BASE_DIR = _config.BASE_DIR
VAR_DIR = CONFIG.data_dir
DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
APIARY_STREAM_URL = CONFIG.stream_url
TESTING = "pytest" in sys.modules

INSTALLED_APPS = [
    "apiary.web.apps.ApiaryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "apiary.core",
    "apiary.accounts",
    "apiary.customers",
    "apiary.listening",
    "apiary.care",
    "apiary.alerts",
    "apiary.community",
    "apiary.recognition",
    "apiary.moderation",
    "apiary.web",
    "apiary.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apiary.web.middleware.ApiErrorShapeMiddleware",
    "apiary.web.middleware.BodySizeLimitMiddleware",
    # anonymous topic pages whole from the cache, before sessions/CSRF/auth (see its docstring)
    "apiary.community.topic_cache.AnonymousTopicCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apiary.accounts.middleware.UserPreferencesMiddleware",
    # visitor sessions for the activity log; needs request.user, no DB write per request
    "apiary.community.middleware.VisitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "apiary.urls"
WSGI_APPLICATION = "apiary.wsgi.application"
ASGI_APPLICATION = "apiary.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apiary.web.context_processors.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Persistent like PostgreSQL's: opening a SQLite connection re-reads the whole schema
    # (dozens of tables, FTS5 tables, triggers) and runs the PRAGMAs below, ~1 ms a request.
    # Tests open and close per request as before (live-server threads, per-test databases).
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if TESTING else 60
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run while one writer writes; IMMEDIATE takes the write lock up front
        # so two writers queue on `timeout` instead of failing with "database is locked".
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    if TESTING:
        # A file, not Django's shared-cache in-memory database: that one takes table-level
        # locks, so a test reading while an in-process worker or live server thread writes
        # fails with "database table is locked". A file in WAL mode behaves like production.
        DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("OPTIONS", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["apiary.accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is slow on purpose (~0.1 s of CPU and 100 MB per hash) and the suite creates
    # thousands of users: tests hash with MD5. The real hashers stay listed so their hashes still
    # verify; accounts' hashing test drops MD5 again to check the production choice.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

# Brute-force protection (accounts.throttle): failures counted per e-mail and per client address.
APIARY_LOGIN_WINDOW_SECONDS = 15 * 60
APIARY_LOGIN_MAX_FAILURES_PER_EMAIL = 5
APIARY_LOGIN_MAX_FAILURES_PER_IP = 30

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Only behind a proxy that sets these headers itself; otherwise clients could spoof them.
APIARY_TRUST_X_FORWARDED = CONFIG.trust_x_forwarded
if APIARY_TRUST_X_FORWARDED:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Request limits ---------------------------------------------------------------------------
APIARY_MAX_BODY_BYTES = CONFIG.max_body_bytes
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_body_bytes

# --- I18N -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "apiary" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
with contextlib.suppress(OSError):  # whitenoise warns on every start when it is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = CONFIG.email["from"]
EMAIL_HOST = CONFIG.email["host"] or "localhost"
EMAIL_PORT = CONFIG.email["port"]
EMAIL_HOST_USER = CONFIG.email["user"]
EMAIL_HOST_PASSWORD = CONFIG.email["password"]
EMAIL_USE_TLS = CONFIG.email["use_tls"] and bool(CONFIG.email["host"])

# --- Customers -------------------------------------------------------------------------------
APIARY_ORDERS_WEBHOOK_SECRET = CONFIG.orders_webhook_secret
APIARY_WEBHOOK_TOLERANCE_SECONDS = 300
APIARY_UPLOAD_DIR = VAR_DIR / "uploads"
APIARY_BASE_URL = CONFIG.base_url
APIARY_CARE_AUTO_ASSIGN = CONFIG.care_auto_assign
APIARY_DB_PARALLEL = CONFIG.db_parallel  # core.db.read_parallel (community search)
APIARY_CARE_BRAND_HANDLES = CONFIG.care_brand_handles

# --- Cache ------------------------------------------------------------------------------------
# Files under the data directory: shared by every server process on the box, no cache server to
# run. It holds rendered fragments whose keys carry a digest of their inputs (the anonymous topic
# page: community.views_posts.topic_cache_key), so nothing is ever invalidated by hand and a
# change shows at the next request; sharing means each page is rendered once, not once per
# worker (benchmarks/community_pages.py: +30% anonymous topic pages per second with 3 workers).
# Tests keep a per-process cache: parallel test runs must not share entries.
# "fragments" is per process, in memory: small pieces rendered dozens of times a page (a
# topic's replies, views_posts.comment_cache_key), where a file per piece would cost more to
# write (Django's file cache lists its directory on every set) than to render.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
        "OPTIONS": {"MAX_ENTRIES": 10000},  # ~25 KB a topic page: ≤ 250 MB
    },
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "apiary-fragments",
        "OPTIONS": {"MAX_ENTRIES": 10000},
    },
}
if TESTING:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "fragments": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "apiary-test-fragments",
        },
    }

# --- Background tasks -------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- API --------------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 200

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "apiary.web.views.csrf_failure"
