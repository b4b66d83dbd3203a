"""Sundown settings, read from the environment (see .env.example).

Defaults give a working single-machine setup (SQLite and Celery's file-system
broker under var/); a real deployment points DATABASE_URL and CELERY_BROKER_URL
at PostgreSQL and Redis without any code change.
"""

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from config.paths import BASE_DIR, VAR_DIR
from ops.logs import logging_config

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "insecure-dev-key-only-for-make-run-and-tests-0123456789abcdefghijk"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else None)
if SECRET_KEY is None:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "django_htmx",
    "audit",
    "vendors",
    "access",
    "revocation",
    "findings",
    "reviews",
    "jobs",
    "dashboard",
    "sso",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "audit.middleware.RequestIdMiddleware",
    # Request id and actor into every log line of the request; HTTP latency metrics.
    "ops.middleware.RequestObservabilityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Security officers must pass TOTP before any dashboard page (dashboard.middleware).
    "dashboard.middleware.RequireOTPMiddleware",
    # A view's 404 (often a permission refusal) renders 404.html even with DEBUG on.
    "dashboard.middleware.DashboardNotFoundMiddleware",
    # Bidi overrides that older rows hold are shown as code points, never applied.
    "dashboard.middleware.BidiControlsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

# Database: PostgreSQL in production, SQLite under var/ for `make run`.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'sundown.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dashboard read while the worker writes; the busy timeout
    # makes concurrent writers wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First, so an address over its failure budget (config.auth_throttle) and a locked-out
    # user/address pair are refused before the password is checked.
    "config.auth_throttle.AddressThrottleBackend",
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with SUNDOWN_LOCAL_LOGIN deciding who may use a password at all.
    "sso.backends.LocalPasswordBackend",
    # Loads the users who signed in through the identity provider; never checks a password.
    "sso.backends.OidcBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous object permissions at all

# Lockout against password guessing, per username AND address: an attacker guessing
# from elsewhere cannot lock the real user out, and every lockout ends after the cool-off.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its start-up banner on every manage.py call is noise
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "audit.actor.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password", "token"]
# And per address across usernames and API tokens (password spraying, token guessing).
SUNDOWN_AUTH_FAILURES_PER_ADDRESS = env_int("SUNDOWN_AUTH_FAILURES_PER_ADDRESS", 30)
SUNDOWN_AUTH_FAILURE_WINDOW_SECONDS = env_int("SUNDOWN_AUTH_FAILURE_WINDOW_SECONDS", 900)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Sundown")

# Single sign-on with OpenID Connect (sso/); off while SUNDOWN_OIDC_ISSUER is empty.
SUNDOWN_OIDC_ISSUER = env_str("SUNDOWN_OIDC_ISSUER", "")
# Defaults to ISSUER/.well-known/openid-configuration.
SUNDOWN_OIDC_DISCOVERY_URL = env_str("SUNDOWN_OIDC_DISCOVERY_URL", "")
SUNDOWN_OIDC_CLIENT_ID = env_str("SUNDOWN_OIDC_CLIENT_ID", "")
SUNDOWN_OIDC_CLIENT_SECRET = env_str("SUNDOWN_OIDC_CLIENT_SECRET", "")
SUNDOWN_OIDC_SCOPES = env_str("SUNDOWN_OIDC_SCOPES", "openid email profile").split()
SUNDOWN_OIDC_PROVIDER_NAME = env_str("SUNDOWN_OIDC_PROVIDER_NAME", "single sign-on")
SUNDOWN_OIDC_USERNAME_CLAIM = env_str("SUNDOWN_OIDC_USERNAME_CLAIM", "preferred_username")
SUNDOWN_OIDC_GROUPS_CLAIM = env_str("SUNDOWN_OIDC_GROUPS_CLAIM", "groups")
# JSON: {"group": [{"agency": "<slug>", "role": "<role>"}, ...]}; checked at start-up.
SUNDOWN_OIDC_ROLE_MAPPING = env_str("SUNDOWN_OIDC_ROLE_MAPPING", "{}")
# ID-token amr / acr values that count as a second factor, for agencies that accept it.
SUNDOWN_OIDC_MFA_AMR = env_list("SUNDOWN_OIDC_MFA_AMR", ["mfa", "otp"])
SUNDOWN_OIDC_MFA_ACR = env_list("SUNDOWN_OIDC_MFA_ACR", [])
SUNDOWN_OIDC_TIMEOUT_SECONDS = env_int("SUNDOWN_OIDC_TIMEOUT_SECONDS", 10)
# Password sign-in: "all", "superusers" (break-glass only) or "none".
SUNDOWN_LOCAL_LOGIN = env_str("SUNDOWN_LOCAL_LOGIN", "all")

# Strict Content-Security-Policy: everything from this host, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

LANGUAGE_CODE = "en"
# Server time is UTC; each Agency has its own time zone for contract end dates.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "static")))
STATICFILES_DIRS: list[Path | tuple[str, Path]] = (
    [BASE_DIR / "assets"] if (BASE_DIR / "assets").is_dir() else []
)
# Front-end packages installed from npm at set-up time (Makefile), served from here.
STATICFILES_DIRS += [
    (prefix, BASE_DIR / "node_modules" / package)
    for prefix, package in (("uswds", "@uswds/uswds/dist"), ("htmx", "htmx.org/dist"))
    if (BASE_DIR / "node_modules" / package).is_dir()
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Cache: API throttles and the per-address failed-authentication counts live here,
# so every web process must share it: CACHE_URL=redis://host:6379/1. Per-process
# memory only for `make run` or when asked for by name (CACHE_URL=locmem://, one
# process): otherwise an attacker simply gets a fresh budget from each process.
CACHE_URL = env_str("CACHE_URL", "locmem://" if DEBUG else "")
if not CACHE_URL:
    raise ImproperlyConfigured(
        "CACHE_URL is required when DEBUG is off (redis://host:6379/1, shared by all web "
        "processes; locmem:// only for a single process)."
    )
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        if CACHE_URL == "locmem://"
        # Django's Redis backend with one client per pool (config.cache).
        else {"BACKEND": "config.cache.RedisCache", "LOCATION": CACHE_URL}
    )
}

# Secrets at rest (system connection secrets). Comma-separated Fernet keys, the
# first encrypts, all decrypt, so keys can be rotated with `rotate_secrets`.
# The keys live outside the database by design.
_keys = env_list("SUNDOWN_ENCRYPTION_KEYS", [])
if not _keys:
    if not DEBUG and SECRET_KEY != _DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SUNDOWN_ENCRYPTION_KEYS is required when DEBUG is off "
            "(generate one with `python manage.py generate_encryption_key`)."
        )
    # Development only: a key derived from the dev SECRET_KEY.
    _keys = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
SUNDOWN_ENCRYPTION_KEYS = _keys

# Where connectors may connect (access.destinations): CIDRs and host names
# ("*.agency.example" for a domain). Empty: nowhere. Link-local and metadata
# addresses are refused whatever it says, loopback unless a loopback network is
# listed, and this deployment's own database, broker and cache unless the next
# setting says otherwise.
SUNDOWN_TARGET_ALLOWLIST = env_list("SUNDOWN_TARGET_ALLOWLIST", [])
SUNDOWN_TARGET_ALLOW_OWN_SERVICES = env_bool("SUNDOWN_TARGET_ALLOW_OWN_SERVICES", False)
# Directories whose files local-file connectors (htpasswd) may read and rewrite, on the
# worker's own file system (access.destinations.local_path_check). Empty: none, which
# is the production default; development (DEBUG, `make run`) allows var/targets, never
# var/ itself, where Sundown's own database and keys live.
SUNDOWN_LOCAL_TARGET_ROOTS = env_list(
    "SUNDOWN_LOCAL_TARGET_ROOTS", [str(VAR_DIR / "targets")] if DEBUG else []
)

# The audit chain's signing key, checkpoints and SIEM export: config.settings_audit.
from config.settings_audit import *  # noqa: E402,F403

# HMAC key of the checkpoints made before the signed ones (only ever verified now):
# what SUNDOWN_AUDIT_SIGNING_KEY held then, or SECRET_KEY.
SUNDOWN_AUDIT_LEGACY_HMAC_KEY = os.environ.get("SUNDOWN_AUDIT_SIGNING_KEY") or SECRET_KEY

# Celery (broker, task options, the beat's schedule): config.settings_celery; Sundown's
# policy settings (engine, reconciliation, reviews): config.settings_policy.
from config.settings_celery import *  # noqa: E402,F403
from config.settings_policy import *  # noqa: E402,F403
from config.settings_policy import SUNDOWN_SWEEP_SECONDS  # noqa: E402  (read below)

# Health (ops/): a sweep older than this fails /readyz and opens an incident that mails
# security staff once; workers look every SUNDOWN_WATCHDOG_SECONDS (0: no watchdog thread).
SUNDOWN_SWEEP_STALE_SECONDS = env_int(
    "SUNDOWN_SWEEP_STALE_SECONDS", max(60, 6 * SUNDOWN_SWEEP_SECONDS)
)
SUNDOWN_WATCHDOG_SECONDS = env_int("SUNDOWN_WATCHDOG_SECONDS", 15)
# Metrics: /metrics on the web and the worker's own endpoint need this bearer token.
SUNDOWN_METRICS_TOKEN = env_str("SUNDOWN_METRICS_TOKEN", "")
SUNDOWN_WORKER_METRICS_PORT = env_int("SUNDOWN_WORKER_METRICS_PORT", 0)
SUNDOWN_WORKER_METRICS_ADDR = env_str("SUNDOWN_WORKER_METRICS_ADDR", "127.0.0.1")
# Read by prometheus-client itself; set it under gunicorn and prefork (see ops.metrics).
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "sundown@localhost")
SUNDOWN_SECURITY_ALERT_EMAILS = env_list("SUNDOWN_SECURITY_ALERT_EMAILS", [])
if EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))


# Hardening; all of these are what `check --deploy` asks for.
SESSION_COOKIE_HTTPONLY = True
# The database holds hashes of session keys, so a dump of it holds no live session.
SESSION_ENGINE = "config.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container health checks and Prometheus speak plain HTTP inside the deployment's network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
X_FRAME_OPTIONS = "DENY"
# Addresses (or CIDRs) of the reverse proxies in front of the app. X-Forwarded-For
# is read only on a request that comes from one of them, and only its hops added
# by them: anyone else's header is the client's own claim and is ignored.
SUNDOWN_TRUSTED_PROXIES = env_list("SUNDOWN_TRUSTED_PROXIES", [])
for _proxy in SUNDOWN_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"SUNDOWN_TRUSTED_PROXIES lists proxy addresses or CIDRs, not {_proxy!r}"
        ) from None

# REST API (api/). Token auth for integrations, session auth (with CSRF) for
# the browser; agency-scoped object permissions are checked in api.permissions.
# Largest API request body (bytes); the parser also refuses JSON nested over 20 deep.
SUNDOWN_API_MAX_BODY_BYTES = env_int("SUNDOWN_API_MAX_BODY_BYTES", 1024 * 1024)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.AgencyPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("SUNDOWN_API_RATE", "1200/min"),
        "anon": env_str("SUNDOWN_API_ANON_RATE", "60/min"),
    },
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sundown API",
    "DESCRIPTION": (
        "Vendors, contracts, systems and credentials of the agencies you are granted, "
        "the revocation verbs, and the append-only audit trail."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        # The registry's kinds (findings.kinds), read when the schema is built.
        "FindingKindEnum": "findings.kinds.kind_choices",
        # A finding's severity has the same four levels as a vendor's risk tier.
        "RiskTierEnum": "vendors.models.Vendor.RiskTier",
        # Credentials and the adopt verb share the credential kinds.
        "CredentialKindEnum": "access.models.Credential.Kind",
        # A review item's state, and the two answers a reviewer gives.
        "ReviewItemDecisionEnum": "reviews.models.ReviewItem.Decision",
        "ReviewAnswerEnum": "reviews.models.ANSWERS",
    },
}

# LOG_FORMAT=json: one JSON object per line for the log shipper; text for people.
# Either way with request id, actor, agency, system and credential, and secrets redacted.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
# Celery workers and beat use this LOGGING too (ops.celery), so redaction holds there.
