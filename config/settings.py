"""piazza settings: one file, everything from the environment (ARCHITECTURE convention 14)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str
from config.production import refuse_unsafe_production

BASE_DIR = Path(__file__).resolve().parent.parent

PIAZZA_ENV = env_str("PIAZZA_ENV", "development")
if PIAZZA_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"PIAZZA_ENV must be development, test or production, got {PIAZZA_ENV!r}")
PRODUCTION = PIAZZA_ENV == "production"

if PRODUCTION:
    if not os.environ.get("SECRET_KEY"):
        raise ImproperlyConfigured(
            "SECRET_KEY mancante: in produzione va impostata una chiave segreta lunga e casuale. "
            "/ SECRET_KEY is missing: production needs a long random secret key."
        )
    refuse_unsafe_production(os.environ)  # DEBUG on, guessable SECRET_KEY or AUDIT_HMAC_KEY
    SECRET_KEY = os.environ["SECRET_KEY"]
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-development-key-never-use-in-production")

DEBUG = env_bool("DEBUG", default=PIAZZA_ENV == "development")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "piazza.web.admin_apps.PiazzaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "csp",
    "piazza.core",
    "piazza.territory",
    "piazza.people",
    "piazza.ledger",
    "piazza.payments",
    "piazza.payments.bank",
    "piazza.compliance",
    "piazza.funding",
    "piazza.membership",
    "piazza.community",
    "piazza.transparency",
    "piazza.petitions",
    "piazza.volunteers",
    "piazza.outreach",
    "piazza.events",
    "piazza.privacy",
    "piazza.discovery",
    "piazza.api",
    "piazza.web",
    "ninja",  # issue 16: the OSDI API (ADR 0025), its bundled Swagger UI static files
]

MIDDLEWARE = [
    # Probes and metrics first: a balancer probes by IP over plain HTTP (issue 14).
    "piazza.web.health.HealthCheckMiddleware",
    "piazza.web.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "piazza.core.input_guard.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "piazza.core.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "piazza" / "web" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "piazza.web.context_processors.piazza",
            ],
        },
    }
]

# --- Database: SQLite file by default (embedded), PostgreSQL in production and CI.
(BASE_DIR / "var" / "static").mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'piazza.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
# Behind PgBouncer in transaction mode (docs/deploy.md): no WITH HOLD server-side cursors, which
# outlive the transaction and so the pooled connection. Django prepares no statements by default.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_TRANSACTION_POOLING", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the db task worker and the web server share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# A streaming replica for reads that may be a little stale (reports, the transparency portal,
# exports, segment counts): each use names how stale it may be (piazza/core/replica.py); money
# paths never read from it. In tests the replica is the default database itself (a mirror).
if env_str("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL", ""), conn_max_age=env_int("DB_CONN_MAX_AGE", 0)
    )
    DATABASES["replica"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# Reads inside a `reading_stale(family)` block go to the replica when it is within the family's
# tolerated lag, in seconds (piazza/core/replica.py; REPLICA_MAX_LAG_PORTAL=90 etc. override).
DATABASE_ROUTERS = ["piazza.core.replica.StaleReadsRouter"]
REPLICA_MAX_LAG = {
    family: env_int(f"REPLICA_MAX_LAG_{family.upper()}", seconds)
    for family, seconds in {"portal": 60, "reports": 120, "exports": 300, "segments": 30}.items()
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, locks, rate limits and the task queue switch to it when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "piazza")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 600}}

# Tests run tasks inline unless a test (or PIAZZA_TASKS_BACKEND) asks for a real queue.
_default_tasks_backend = "rq" if REDIS_URL else "database"
if PIAZZA_ENV == "test":
    _default_tasks_backend = "immediate"
_tasks_backend = env_str("PIAZZA_TASKS_BACKEND", _default_tasks_backend)
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if _tasks_backend not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"PIAZZA_TASKS_BACKEND must be one of {sorted(_TASK_BACKENDS)}, got {_tasks_backend!r}")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[_tasks_backend], "QUEUES": ["default"]}}

# Periodic work, enqueued by `manage.py scheduler` (seconds between runs). Every task is
# idempotent: a run that comes late or twice books nothing twice.
PERIODIC_TASKS = {
    "piazza.payments.tasks.run_due_charges": 15 * 60,
    "piazza.payments.tasks.reconcile_pending": 10 * 60,
    "piazza.payments.tasks.retry_webhooks": 5 * 60,
    "piazza.payments.tasks.reconcile_provider_charges": 60 * 60,
    "piazza.funding.tasks.end_due_campaigns": 5 * 60,
    "piazza.funding.tasks.close_due_quadratic_rounds": 15 * 60,
    "piazza.payments.bank.tasks.expire_mandates": 24 * 3600,
    "piazza.payments.bank.tasks.import_drop_folder": 15 * 60,
    "piazza.privacy.tasks.expire_export_links": 3600,
    "piazza.core.tasks.verify_audit_chain": env_int("AUDIT_VERIFY_INTERVAL_SECONDS", 3600),
    "piazza.privacy.tasks.apply_retention": 24 * 3600,
    "piazza.privacy.tasks.release_expired_holds": 24 * 3600,
    "piazza.compliance.register.tasks.refresh_registers": 24 * 3600,
    "piazza.volunteers.tasks.send_shift_reminders": 3600,
    "piazza.outreach.tasks.dispatch_due": 60,
    "piazza.outreach.tasks.process_bounce_mailbox": 5 * 60,
    "piazza.events.tasks.send_reminders": 60 * 60,
    "piazza.petitions.tasks.match_pending_signatures": 10 * 60,
    "piazza.discovery.tasks.send_digests": 60 * 60,
    "piazza.api.webhooks.tasks.run_webhooks": 60,
}
# Outgoing webhooks (issue 16): http:// allowed only to localhost, and only outside production;
# a subscription pauses itself after this many failed attempts in a row; deliveries are kept
# this many days; the signing secrets are encrypted under WEBHOOK_SECRET_KEY (default SECRET_KEY).
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", default=not PRODUCTION)
# Receivers inside the party's own network (a CRM behind the VPN): off, so no webhook reaches an
# internal address unless the operator says so.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_PAUSE_AFTER = env_int("WEBHOOK_PAUSE_AFTER", 50)
WEBHOOK_DELIVERY_RETENTION_DAYS = env_int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30)
WEBHOOK_SECRET_KEY = env_str("WEBHOOK_SECRET_KEY", "")

# --- Auth (rule G4): argon2, personal credentials, 2FA for every official.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if PIAZZA_ENV == "test":
    # Hashing cost is not what tests measure; argon2 stays first everywhere else.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "piazza.territory.backends.NationalAdministratorBackend",
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:home"
OTP_TOTP_ISSUER = "piazza"
# Login throttling (issue 10, finding 12): per (username, client) pair, LOGIN_FAILURE_LIMIT free
# failures, then waits of BASE, 2×BASE, 4×BASE… up to LOGIN_LOCKOUT_SECONDS; per client across
# usernames, LOGIN_CLIENT_FAILURE_LIMIT free failures, then the same doubling from its own base.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_BACKOFF_BASE_SECONDS = env_int("LOGIN_BACKOFF_BASE_SECONDS", 30)
LOGIN_CLIENT_FAILURE_LIMIT = env_int("LOGIN_CLIENT_FAILURE_LIMIT", 20)
LOGIN_CLIENT_BACKOFF_BASE_SECONDS = env_int("LOGIN_CLIENT_BACKOFF_BASE_SECONDS", 60)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
LOGIN_FAILURE_MEMORY_SECONDS = env_int("LOGIN_FAILURE_MEMORY_SECONDS", 24 * 3600)
# How many reverse proxies of ours stand in front of the app and append to X-Forwarded-For.
# 0 (default): the header is ignored, the peer address is the client.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Public forms taking a codice fiscale (join, Albo, donation): attempts per client IP and per
# code in each window (piazza/core/throttle.py; issue 10, rule G1). Over the limit: HTTP 429.
PUBLIC_FORM_THROTTLE_PER_IP = env_int("PUBLIC_FORM_THROTTLE_PER_IP", 20)
PUBLIC_FORM_THROTTLE_PER_CODE = env_int("PUBLIC_FORM_THROTTLE_PER_CODE", 6)
PUBLIC_FORM_THROTTLE_WINDOW_SECONDS = env_int("PUBLIC_FORM_THROTTLE_WINDOW_SECONDS", 60 * 60)
# Petitions and sign-up forms (issue 15): signatures per client address and window, the minimum time
# between showing the form and sending it (bots send at once), and how long a shown form stays valid.
PETITION_THROTTLE_PER_IP = env_int("PETITION_THROTTLE_PER_IP", 20)
PETITION_THROTTLE_WINDOW_SECONDS = env_int("PETITION_THROTTLE_WINDOW_SECONDS", 60 * 60)
PETITION_MIN_FILL_SECONDS = env_int("PETITION_MIN_FILL_SECONDS", 4)
PETITION_FORM_MAX_AGE_SECONDS = env_int("PETITION_FORM_MAX_AGE_SECONDS", 24 * 60 * 60)
# "Il mio spazio" (issue 12): sign-in links by email, the person's session, consents given there.
COMMUNITY_LINK_MINUTES = env_int("COMMUNITY_LINK_MINUTES", 30)  # a sign-in or confirmation link's life
COMMUNITY_IDLE_SECONDS = env_int("COMMUNITY_IDLE_SECONDS", 30 * 60)  # signed out after this long idle
COMMUNITY_SESSION_MAX_SECONDS = env_int("COMMUNITY_SESSION_MAX_SECONDS", 8 * 3600)  # and after this long anyway
COMMUNITY_LINKS_PER_ADDRESS = env_int("COMMUNITY_LINKS_PER_ADDRESS", 3)  # links asked per address per window
COMMUNITY_LINKS_PER_CLIENT = env_int("COMMUNITY_LINKS_PER_CLIENT", 20)  # and per client IP per window
COMMUNITY_LINKS_WINDOW_SECONDS = env_int("COMMUNITY_LINKS_WINDOW_SECONDS", 60 * 60)
# Passkeys in Il mio spazio (docs/adr/0018-passkeys.md). The relying party id and the accepted
# origins: empty (default) = the request's own host, which Django has checked against ALLOWED_HOSTS;
# set both in production (e.g. "piazza.example.it" and "https://piazza.example.it").
COMMUNITY_PASSKEY_RP_ID = env_str("COMMUNITY_PASSKEY_RP_ID", "")
COMMUNITY_PASSKEY_ORIGINS = env_list("COMMUNITY_PASSKEY_ORIGINS", [])
COMMUNITY_PASSKEY_RP_NAME = env_str("COMMUNITY_PASSKEY_RP_NAME", "Il mio spazio")
COMMUNITY_PASSKEY_CHALLENGE_SECONDS = env_int("COMMUNITY_PASSKEY_CHALLENGE_SECONDS", 300)  # a ceremony's life
COMMUNITY_PASSKEY_MAX_PER_PERSON = env_int("COMMUNITY_PASSKEY_MAX_PER_PERSON", 10)
# Passkey sign-in (core/throttle.py HitLimiter, per client IP, in COMMUNITY_LINKS_WINDOW_SECONDS):
# attempts to sign in, and challenges handed out (the door asks for one on every visit).
COMMUNITY_PASSKEY_ATTEMPTS_PER_CLIENT = env_int("COMMUNITY_PASSKEY_ATTEMPTS_PER_CLIENT", 20)
COMMUNITY_PASSKEY_CHALLENGES_PER_CLIENT = env_int("COMMUNITY_PASSKEY_CHALLENGES_PER_CLIENT", 60)
# Annual tax statements (rules F7/F8): donors per background task of a generation run.
TAX_STATEMENTS_CHUNK_SIZE = env_int("TAX_STATEMENTS_CHUNK_SIZE", 1000)
# Officials' password reset link (Django's PasswordResetView): its life in seconds.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)

# --- Sessions and security headers.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Internationalisation: Italian first, English second.
LANGUAGE_CODE = "it"
LANGUAGES = [("it", _("Italiano")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

# --- Static and media files.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# Files with no public URL (scanned paper mandates): served only by scoped, audited views.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(BASE_DIR / "var" / "private")))
# One limit for the upload form and the parser (MB of 2**20 bytes); parsing holds the whole file in memory.
BANK_STATEMENT_MAX_MB = env_int("BANK_STATEMENT_MAX_MB", 20)
# Where uploads live (piazza.core.files, ADR 0029): local directories on one machine; with several
# app servers, FILE_STORAGE=s3 puts both stores in an S3-compatible bucket (django-storages):
# public uploads under media/ (the bucket must let anyone read that prefix, or serve it through a
# CDN), private files under private/ (never a URL: read back by scoped, audited views).
FILE_STORAGE = env_str("FILE_STORAGE", "local")
if FILE_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"FILE_STORAGE must be 'local' or 's3', not {FILE_STORAGE!r}")
S3_OPTIONS = {
    "bucket_name": env_str("S3_BUCKET", ""),
    "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
    "region_name": env_str("S3_REGION", "") or None,
    "access_key": env_str("S3_ACCESS_KEY_ID", "") or None,
    "secret_key": env_str("S3_SECRET_ACCESS_KEY", "") or None,
    "file_overwrite": False,
    "default_acl": None,
    "object_parameters": {"ServerSideEncryption": "AES256"} if env_bool("S3_ENCRYPT", True) else {},
}
if FILE_STORAGE == "s3":
    if not S3_OPTIONS["bucket_name"]:
        raise ImproperlyConfigured("FILE_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for a non-AWS store)")
    _PUBLIC_STORE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**S3_OPTIONS, "location": "media", "querystring_auth": False},
    }
    _PRIVATE_STORE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**S3_OPTIONS, "location": "private", "querystring_auth": True, "querystring_expire": 60},
    }
else:
    _PUBLIC_STORE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    _PRIVATE_STORE = {"BACKEND": "piazza.core.files.PrivateFileStorage"}
STORAGES = {
    "default": _PUBLIC_STORE,
    "private": _PRIVATE_STORE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- The donor register (rules F1, F5; docs/dev/register.md, ADR 0019).
# The board marks an entry "in scadenza" this many days before its deadline.
REGISTER_DUE_SOON_DAYS = env_int("REGISTER_DUE_SOON_DAYS", 7)
# The party's signing certificate for the register PDF (PAdES): PEM or DER files. Without them the
# PDF is produced unsigned and says so; in development `seed_demo` makes a demo certificate in var/.
REGISTER_SIGNING_CERT = env_str("REGISTER_SIGNING_CERT", "")
REGISTER_SIGNING_KEY = env_str("REGISTER_SIGNING_KEY", "")
REGISTER_SIGNING_KEY_PASSWORD = env_str("REGISTER_SIGNING_KEY_PASSWORD", "")
REGISTER_DEMO_SIGNING_DIR = BASE_DIR / "var" / "register-signing"

# --- Email: console by default.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Used by the file backend `make demo` chooses: one .log file per email, in var/emails/.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "emails"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "piazza <noreply@piazza.localhost>")

# The SMTP server (or provider relay) when EMAIL_BACKEND is Django's SMTP backend.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)

# --- Email broadcasts (piazza.outreach, issue 15; docs/dev/broadcasts.md, ADR 0023).
OUTREACH_FROM_EMAIL = env_str("OUTREACH_FROM_EMAIL", DEFAULT_FROM_EMAIL)
OUTREACH_MESSAGE_ID_DOMAIN = env_str("OUTREACH_MESSAGE_ID_DOMAIN", "piazza.localhost")
# Frequency limit per person across all territories (G2 spirit: five messages a day is too many).
OUTREACH_MAX_PER_DAY = env_int("OUTREACH_MAX_PER_DAY", 1)
OUTREACH_MAX_PER_WEEK = env_int("OUTREACH_MAX_PER_WEEK", 3)
# One provider's limit, shared by every worker through the cache (Redis in production).
OUTREACH_PROVIDER = env_str("OUTREACH_PROVIDER", "smtp")
OUTREACH_RATE_PER_SECOND = env_int("OUTREACH_RATE_PER_SECOND", 50)
OUTREACH_CHUNK_SIZE = env_int("OUTREACH_CHUNK_SIZE", 500)
OUTREACH_MAX_ATTEMPTS = env_int("OUTREACH_MAX_ATTEMPTS", 5)
OUTREACH_RETRY_BASE_SECONDS = env_int("OUTREACH_RETRY_BASE_SECONDS", 60)
# A queued delivery nobody sent (a worker died) is picked up again after this long.
OUTREACH_STALE_AFTER = timedelta(minutes=env_int("OUTREACH_STALE_MINUTES", 30))
# Maildir where the bounce address delivers (plain SMTP); empty: no bounce mailbox.
OUTREACH_BOUNCE_MAILDIR = env_str("OUTREACH_BOUNCE_MAILDIR", "")
OUTREACH_PREFERENCES_TEXT_VERSION = env_str("OUTREACH_PREFERENCES_TEXT_VERSION", "preferenze-email-2026-06")
# Provider webhooks through django-anymail: without a secret the endpoint answers 404.
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", "")}

# --- Audit log integrity key (rule G4: a tamper-evident chain of entries, docs/adr/0014).
# Required in production (refused above when missing, short or equal to SECRET_KEY); elsewhere
# SECRET_KEY as before. Previous keys (comma-separated) only verify entries signed before a
# key rotation.
AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY", "" if PRODUCTION else SECRET_KEY)
AUDIT_HMAC_PREVIOUS_KEYS = env_list("AUDIT_HMAC_PREVIOUS_KEYS", [])

# Logs: plain lines by default; LOG_FORMAT=json gives one JSON object per line for a log
# collector (issue 14).
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", **({"formatter": "json"} if LOG_FORMAT == "json" else {})}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# /metrics answers a bearer of this token; without one, only a loopback peer (issue 14).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Payment providers (issue 4). A provider without its keys is simply unavailable.
PAYMENT_PROVIDERS = env_list(
    "PAYMENT_PROVIDERS",
    [
        "piazza.payments.providers.sandbox.SandboxProvider",
        "piazza.payments.providers.stripe.StripeProvider",
        "piazza.payments.providers.paypal.PayPalProvider",
    ],
)
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20)
PAYPAL_CLIENT_ID = env_str("PAYPAL_CLIENT_ID", "")
PAYPAL_CLIENT_SECRET = env_str("PAYPAL_CLIENT_SECRET", "")
PAYPAL_WEBHOOK_ID = env_str("PAYPAL_WEBHOOK_ID", "")
PAYPAL_API_BASE = env_str(
    "PAYPAL_API_BASE", "https://api-m.paypal.com" if PRODUCTION else "https://api-m.sandbox.paypal.com"
)
PAYPAL_TIMEOUT_SECONDS = env_int("PAYPAL_TIMEOUT_SECONDS", 20)

# --- Data-subject requests (rule G5, GDPR art. 12(3); docs/dev/privacy-rights.md).
# An answer is due within one month of receipt, extendable by two further months with a reason.
PRIVACY_RESPONSE_MONTHS = env_int("PRIVACY_RESPONSE_MONTHS", 1)
PRIVACY_EXTENSION_MONTHS = env_int("PRIVACY_EXTENSION_MONTHS", 2)
# The emailed link proving an address (minutes) and the one-time download link of an export (hours).
PRIVACY_ADDRESS_LINK_MINUTES = env_int("PRIVACY_ADDRESS_LINK_MINUTES", 30)
PRIVACY_EXPORT_LINK_HOURS = env_int("PRIVACY_EXPORT_LINK_HOURS", 72)
# --- Erasure, legal holds and retention (rule G5, issue 12, docs/dev/erasure.md).
# Key of the keyed hash (HMAC-SHA256) of an erased person's identifiers (normalised email, phone,
# codice fiscale), kept so an import or a desk does not re-create them silently. Derived from
# SECRET_KEY unless set; rotating it forgets every erased identity, so set it once in production.
ERASURE_HASH_KEY = env_str("ERASURE_HASH_KEY", "") or "piazza-erasure:" + SECRET_KEY
# What the law keeps after an erasure, for how long (years, counted from the end of the year of
# the record) and why. Lengths are unverified readings: parameters, not constants.
PRIVACY_LEGAL_HOLDS = {
    "accounting": {
        "years": env_int("PRIVACY_HOLD_ACCOUNTING_YEARS", 10),
        "basis": "Scritture contabili e documenti giustificativi: art. 2220 c.c. (10 anni)",
    },
    "donor_register": {
        "years": env_int("PRIVACY_HOLD_DONOR_REGISTER_YEARS", 5),
        "basis": "Registro dei contributi e pubblicazione per almeno 5 anni: L. 3/2019 art. 1 c. 11 (regola F1)",
    },
    "congress_roll": {
        "years": env_int("PRIVACY_HOLD_CONGRESS_ROLL_YEARS", 10),
        "basis": "Anagrafe certificata dei congressi svolti: statuto e regolamento congressuale",
    },
}
# Retention schedule applied by privacy.tasks.apply_retention (dry run: manage.py privacy_retention --dry-run).
PRIVACY_RETENTION = {
    # Contacts who never joined nor gave, after this many years without any interaction.
    "inactive_contacts_years": env_int("PRIVACY_RETENTION_INACTIVE_CONTACTS_YEARS", 3),
    # Rows of a people import (the file as read) after this many days.
    "import_rows_days": env_int("PRIVACY_RETENTION_IMPORT_ROWS_DAYS", 90),
    # Access links sent by email (payments' PayerAccessLink), this many days after they expired.
    "expired_links_days": env_int("PRIVACY_RETENTION_EXPIRED_LINKS_DAYS", 30),
}
# --- Privacy notices, record of processing, breaches (rule G5, issue 12; docs/dev/privacy-notices.md).
# The data controller and its DPO, written into the shipped notices (GDPR art. 13(1)(a)-(b)) and
# into the record of processing activities (art. 30).
PRIVACY_CONTROLLER_NAME = env_str("PRIVACY_CONTROLLER_NAME", "Partito Piazza - sede nazionale")
PRIVACY_CONTROLLER_ADDRESS = env_str("PRIVACY_CONTROLLER_ADDRESS", "Via della Piazza 1, 00100 Roma")
PRIVACY_CONTROLLER_EMAIL = env_str("PRIVACY_CONTROLLER_EMAIL", "privacy@piazza.localhost")
PRIVACY_DPO_NAME = env_str("PRIVACY_DPO_NAME", "Responsabile della protezione dei dati (DPO)")
PRIVACY_DPO_EMAIL = env_str("PRIVACY_DPO_EMAIL", "dpo@piazza.localhost")
# A form opened before a new notice version was published is still accepted this many hours
# after the publication, and records the version it showed (never silently the new one).
PRIVACY_NOTICE_GRACE_HOURS = env_int("PRIVACY_NOTICE_GRACE_HOURS", 24)
# Processors named in the record of processing (art. 30(1)(d)); payment providers and the email
# backend are read from their own settings.
PRIVACY_HOSTING_PROVIDER = env_str("PRIVACY_HOSTING_PROVIDER", "Server gestiti dal partito (UE)")
PRIVACY_EMAIL_PROVIDER = env_str("PRIVACY_EMAIL_PROVIDER", "")
# GDPR art. 33(1): a breach is notified to the Garante within this many hours of its discovery.
PRIVACY_BREACH_NOTIFY_HOURS = env_int("PRIVACY_BREACH_NOTIFY_HOURS", 72)
# The retention task erases only when this is on; off, it writes its dry-run report and stops.
PRIVACY_RETENTION_APPLY = env_bool("PRIVACY_RETENTION_APPLY", False)

# --- Community of small donors (issue 17): digest, recognition, "vicino a me".
COMMUNITY_DIGEST_DAYS = env_int("COMMUNITY_DIGEST_DAYS", 7)  # one digest per period at most (weekly by default)
RECOGNITION_FOUNDERS = env_int("RECOGNITION_FOUNDERS", 10)  # the first N donors of a project are its "fondatori"
RECOGNITION_STREAK_MIN_MONTHS = env_int("RECOGNITION_STREAK_MIN_MONTHS", 3)  # shortest streak shown on a page
# Issue 16: requests per minute per API key (fixed window in the shared cache).
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 600)
