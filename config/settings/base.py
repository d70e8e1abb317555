"""Settings shared by every environment, read from the environment with django-environ.

Environment variables (all optional in development):
    DEBUG, SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS, PHONE_DEFAULT_REGION, TIME_ZONE.
A `.env` file in the project folder is read when present.
"""

from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A development key is only acceptable while DEBUG is on; anything else must set SECRET_KEY.
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-relay-crm-development-only")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_countries",
    "phonenumber_field",
    "django_tasks_db",
    "import_export",
    "crm",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (SECURE_CSP below) and the nonce its templates use.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

# Content-Security-Policy for every page we serve (the admin, the browsable API): scripts only
# from our own origin or with the request's nonce (Django's admin templates carry it), so an
# injected <script> or on* attribute never runs. Inline style attributes stay allowed: the
# admin's status badges use them, and a style cannot run code. Swagger UI (/api/docs/) is
# served from our own static files (drf-spectacular-sidecar), so it needs nothing more.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# SQLite is the embedded default. It is tuned so a web process and a worker can write at
# once: WAL lets readers proceed during a write, the busy timeout waits for the lock instead
# of failing, and IMMEDIATE transactions take the write lock up front, which avoids the
# "database is locked" error SQLite raises when a read transaction tries to upgrade.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": (
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA busy_timeout=20000;"
        "PRAGMA foreign_keys=ON;"
    ),
}

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, so psycopg prepares a statement a connection has run
    # five times: the API list's page is then neither parsed nor planned again (measured in
    # docs/benchmarks.md). Behind a pooler in transaction mode without prepared statement
    # support (PgBouncer before 1.21), set DATABASE_PREPARE_THRESHOLD=off.
    threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "server_side_binding": env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
            "prepare_threshold": None if threshold.lower() in ("off", "none") else int(threshold),
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# `manage.py collectstatic` gathers every static file (the admin's, Swagger UI's and ReDoc's from
# drf-spectacular-sidecar) into STATIC_ROOT, where WhiteNoise serves them under hashed names with
# far-future cache headers. Set STATIC_ROOT when the code's folder is read-only.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "exports": {"BACKEND": "crm.export_storage.ExportsStorage"},  # settings/operations.py
}

# Phone numbers are stored in E.164. National input ("(415) 555-0100") is read in this region.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US").upper()
PHONENUMBER_DEFAULT_REGION = PHONE_DEFAULT_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default config gives "django" a console handler of its own as well as
        # propagating to the root's: every line twice. Here it only propagates.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
    },
}


# --- integrations: background tasks and provider push (owned by the integrations app) ---------
# Environment variables: FIELD_ENCRYPTION_KEY (optional; secrets at rest are encrypted with a key
# derived from it, else from SECRET_KEY), PUSH_HTTP_TIMEOUT, PUSH_BACKOFF_BASE, PUSH_BACKOFF_CAP,
# PUSH_LEASE_SECONDS, PUSH_ATTEMPT_RETENTION_DAYS.

# django.tasks with the database backend: `manage.py db_worker` runs queued pushes.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# The default cache is per process unless CACHE_URL names a shared one (redis://host:6379/1):
# the API's per-key rate counts live there (apikeys.ratelimit), exact across processes only in
# a shared Redis or Memcached. A contact import's running counts are written by the
# worker and read by the web process while the import's transaction is open (crm.importing),
# so they go to a cache both see: a directory on this host (SQLite means one host). With web
# and workers on several hosts, set IMPORT_PROGRESS_CACHE_URL to a shared cache (redis://...).
CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
    "import_progress": env.cache_url(
        "IMPORT_PROGRESS_CACHE_URL",
        default=f"filecache://{BASE_DIR / '.cache' / 'import-progress'}",
    ),
}

# Changing this key makes stored provider API keys unreadable: they must be entered again.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

INTEGRATIONS = {
    # Seconds to connect and to read one provider answer.
    "HTTP_TIMEOUT": env.float("PUSH_HTTP_TIMEOUT", default=15.0),
    # Retry backoff: base * 2**(attempt-1) seconds, capped, with jitter.
    "BACKOFF_BASE": env.float("PUSH_BACKOFF_BASE", default=2.0),
    "BACKOFF_CAP": env.float("PUSH_BACKOFF_CAP", default=3600.0),
    # A rate-limit or concurrency wait longer than this re-queues the push instead of sleeping.
    "MAX_INLINE_WAIT": 2.0,
    # A worker that dies mid-push frees its slot and its claim on the link after this long.
    "LEASE_SECONDS": env.float("PUSH_LEASE_SECONDS", default=120.0),
    # A change to a link whose push task was queued less than this long ago and has not
    # started rides on that task; an older one (a lost task) gets a task of its own.
    "QUEUED_TASK_TRUSTED_SECONDS": 600,
    # `push_contacts --pending --every N` re-queues a pending link this late: its task was lost.
    "SWEEP_GRACE_SECONDS": 600,
    # PushAttempt rows older than this are pruned by `push_contacts --prune`.
    "ATTEMPT_RETENTION_DAYS": env.int("PUSH_ATTEMPT_RETENTION_DAYS", default=30),
    # The inventory of a provider's records answers "is this contact there?" without a lookup
    # for this long after its read began (docs/integrations.md, "Creating without duplicates").
    "INVENTORY_FRESH_SECONDS": env.float("PUSH_INVENTORY_FRESH_SECONDS", default=3600.0),
    # A stale one is read again when this many links wait for their first create (and more
    # than its last read's pages); a smaller backlog is cheaper with a lookup each.
    "INVENTORY_MIN_BACKLOG": env.int("PUSH_INVENTORY_MIN_BACKLOG", default=50),
}
# --- end integrations --------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# REST API (api, apikeys): authentication, scopes, errors, schema. See docs/api.md.
# Environment variables: API_KEY_RATE, IDEMPOTENCY_KEY_RETENTION_HOURS.
# ---------------------------------------------------------------------------------------------

INSTALLED_APPS += [
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_standardized_errors",
    "apikeys",
    "api",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.APIKeyAuthentication",
        # The browsable API, for staff signed in to the admin.
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A method the route does not have is 405 before any scope is checked (api/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.MethodAllowed", "apikeys.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.throttling.APIKeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON for every request but a staff session's browser (api/negotiation.py).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Requests per API key: "<number>/<s|min|hour|day>"; empty for no limit. Counted in the default
# cache (CACHE_URL), exact across processes with a shared Redis or Memcached.
API_KEY_RATE = env.str("API_KEY_RATE", default="1200/min")
# How long a create's Idempotency-Key is remembered (`manage.py prune_idempotency_records`).
IDEMPOTENCY_KEY_RETENTION_HOURS = env.int("IDEMPOTENCY_KEY_RETENTION_HOURS", default=24)
# X-API-Key is read by apikeys.authentication; this keeps the library's own parser in step.
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "api.errors.Handler",
    "EXCEPTION_FORMATTER_CLASS": "api.errors.Formatter",
    # Error responses documented on every operation (409/422 are added where they can occur).
    # No 406: every request gets JSON whatever its Accept header (api/negotiation.py).
    "ALLOWED_ERROR_STATUS_CODES": [
        str(status) for status in (400, 401, 403, 404, 405, 413, 415, 429, 500)
    ],
    "ERROR_SCHEMAS": {
        str(status): f"api.schema.ErrorResponse{status}"
        for status in (401, 403, 404, 405, 413, 415, 429, 500)
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Relay CRM API",
    "DESCRIPTION": (
        "Create, read, update and search contacts. Authenticate with an `X-API-Key` header; "
        "each operation names the scope it needs. Every error has the same envelope: "
        '`{"type": …, "errors": [{"code", "detail", "attr"}]}`. See docs/api.md.'
    ),
    "VERSION": "1.0.0",
    # Swagger UI and ReDoc come from our static files (drf-spectacular-sidecar), never a CDN:
    # the docs work offline and every script has a pinned version. No online validator either.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # The schema and Swagger UI are public: they describe the API, not its data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        # The enum hook rebuilds the components from the registry: ours come after it.
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "api.schema.parse_errors_with_api_codes",
        "api.schema.error_examples_with_api_codes",
        "api.schema.attr_placeholders_as_patterns",
        "api.schema_fidelity.request_lists_bounded",
        "api.schema_fidelity.request_bodies_refuse_unknown_keys",
        "api.schema_fidelity.response_fields_always_present",
        "api.schema_fidelity.answer_headers",
        "api.schema_fidelity.created_contact_links",
        "api.schema_fidelity.unused_components_removed",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PhoneNumberTypeEnum": "crm.models.PhoneNumber.Type",
        **{
            name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
            for name in ("ValidationErrorEnum", "ClientErrorEnum", "ServerErrorEnum")
        },
    },
}
# --- end REST API ------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# API edges (apikeys): rate-limit headers and CORS. See docs/api.md.
# Environment variables: CORS_ALLOWED_ORIGINS (and CACHE_URL, under CACHES above).
# ---------------------------------------------------------------------------------------------

INSTALLED_APPS += ["corsheaders"]
# RateLimit-* headers on the answers to requests made with an API key (apikeys.middleware),
# and in the OpenAPI schema.
MIDDLEWARE += ["apikeys.middleware.RateLimitHeadersMiddleware"]
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] += ["apikeys.schema_headers.rate_limit_headers"]

# Browser applications on these origins may call the API (comma-separated, with the scheme:
# https://app.example.com). Empty, the default, means no cross-origin access: the middleware
# is then left out, so the API answers exactly as if CORS did not exist.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
if CORS_ALLOWED_ORIGINS:
    # Before CommonMiddleware, which may answer (redirect) without reaching the API's views.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.common.CommonMiddleware"),
        "corsheaders.middleware.CorsMiddleware",
    )
CORS_URLS_REGEX = r"^/api/.*$"
# Keys travel in a header, never in cookies: a staff session must not be usable cross-origin.
CORS_ALLOW_CREDENTIALS = False
# Request headers a cross-origin call may send (beyond the CORS-safelisted ones).
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "x-api-key",
    "idempotency-key",
    "if-match",
]
# Response headers a browser application may read besides the CORS-safelisted ones.
CORS_EXPOSE_HEADERS = [
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Retry-After",
    "Location",
    "ETag",
    "Idempotent-Replayed",
]
# --- end API edges ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Operations (ops): scheduled upkeep, /health/, alert emails. See docs/operations.md.
# Environment variables: EMAIL_URL, DEFAULT_FROM_EMAIL, ALERT_EMAILS, SCHEDULE_<JOB> (one per
# job of OPS_SCHEDULES), STALE_IMPORT_MINUTES, TASK_RESULT_RETENTION_DAYS, QUEUE_LAG_SECONDS,
# ALERT_QUEUE_LAG_SECONDS, ALERT_FAILED_PUSHES, ALERT_FAILED_SHARE.
# ---------------------------------------------------------------------------------------------

INSTALLED_APPS += ["ops"]

# Mail, alert recipients, the scheduler's jobs, health and alert limits: settings/operations.py.
from .operations import *  # noqa: E402, F403

# The scheduler's own lines (jobs added, started, stopped) and job errors, not a line for each
# run of each job.
LOGGING["loggers"]["apscheduler.executors"] = {"level": "WARNING"}

# A load balancer probes /health/ over plain HTTP: SECURE_SSL_REDIRECT leaves it alone.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
# --- end operations -----------------------------------------------------------------------------

# Swagger UI and ReDoc as static files, for SPECTACULAR_SETTINGS' "SIDECAR" above.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
