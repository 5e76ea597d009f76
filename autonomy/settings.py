"""Settings, read from environment variables through typed readers.

Development defaults are safe and need no services (SQLite in WAL mode, in-process
cache and channel layer unless REDIS_URL is set). With DEBUG=false the process
refuses to start unless SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL are set.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

if not DEBUG:
    _missing = [
        name
        for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL")
        if not env.str(name, default="")
    ]
    if _missing:
        raise ImproperlyConfigured(
            "DEBUG=false requires these environment variables: " + ", ".join(_missing)
        )

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-" + "x" * 32)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "guardian",
    "simple_history",
    "channels",
    "django_celery_beat",
    "axes",
    "governance",
    "agents",
    "workflows",
    "autonomy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "autonomy.core.request_context.RequestIdMiddleware",
    "autonomy.core.nul_guard.NulGuardMiddleware",
    "governance.epochs.SnapshotMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Deny by default: a stranger is sent to LOGIN_URL unless the view is marked public.
    "autonomy.login_required.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "autonomy.urls"
WSGI_APPLICATION = "autonomy.wsgi.application"
ASGI_APPLICATION = "autonomy.asgi.application"

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
                "autonomy.context_processors.navigation",
            ],
        },
    },
]

# Databases: DATABASE_URL (PostgreSQL in production and CI) or SQLite in WAL mode.
SQLITE_PATH = env.str("AUTONOMY_SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int(
        "CONN_MAX_AGE", default=0
    )  # >0 only under WSGI (Procfile web)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The statements autonomy.core.compiled_sql sends (the gateway's one statement per action,
    # the executor's) use server-side binding, so PostgreSQL can keep them prepared: parsed and
    # planned once per connection, after a connection has sent one this many times. Django's
    # own queries (client-side binding) are never prepared. "none" turns it off, for a
    # transaction-pooling PgBouncer older than 1.21 (prepared statements live in one server
    # connection).
    _prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
    if _prepare not in ("", "none") and not _prepare.isdigit():
        raise ImproperlyConfigured(
            f"DATABASE_PREPARE_THRESHOLD must be a whole number of uses or none, not {_prepare!r}."
        )
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            None if _prepare in ("", "none") else int(_prepare)
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: the Celery broker, the cache and the channel layer. Empty means in-process
# stand-ins, which is only for a single process (tests and management commands).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "autonomy.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "autonomy",
        }
    }
    # Redis pub/sub channels ignore the database number: two deployments (or CI runs)
    # sharing one Redis server would hear each other's pushes unless their channel names
    # differ. The prefix names the database by default; CHANNEL_PREFIX overrides it.
    _redis_db = urlparse(REDIS_URL).path.strip("/") or "0"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_PREFIX", default=f"autonomy-db{_redis_db}"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: Redis broker, no result backend (outcomes live in our audited models).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection after each task unless
# DB_REUSE_MAX is set (then after that many tasks): a new PostgreSQL connection per task
# cost ~18% of a worker's CPU, and a backend start in PostgreSQL. autonomy.celery closes,
# before each task, the connections that failed or outlived CONN_MAX_AGE, as Django does
# before each request; the Procfile gives the worker CONN_MAX_AGE=60.
CELERY_DB_REUSE_MAX = 1000
# Time limits stay well below the broker's visibility timeout, so a task that runs
# too long is killed before Redis would hand the same message to another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in (login form, admin) from a locked-out username and address.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Sign-in throttling and lockout (django-axes): after AUTONOMY_LOGIN_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair is locked out for
# AUTONOMY_LOGIN_COOLOFF_MINUTES (or until `manage.py axes_reset_username NAME`). Only
# sign-ins through django.contrib.auth.authenticate() count: the login form and the admin,
# never the API's agent keys (agents.key_throttle limits failed keys instead).
AXES_ENABLED = env.bool("AUTONOMY_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("AUTONOMY_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AUTONOMY_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "autonomy.core.client_address.client_address"
# Not axes' start banner and per-sign-in INFO lines (they bury the demo's own output);
# lockouts are still logged as warnings.
AXES_VERBOSE = False
# Reverse proxies in front of the web servers that append to X-Forwarded-For (0: none,
# the peer's address is the client's); see autonomy.core.client_address.
AUTONOMY_PROXY_COUNT = env.int("AUTONOMY_PROXY_COUNT", default=0)
# Failed agent-key authentications per client address and minute before 429.
AUTONOMY_KEY_FAILURE_LIMIT = env.int("AUTONOMY_KEY_FAILURE_LIMIT", default=20)
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous sees nothing.
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
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

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security: strict CSP (no inline scripts or styles), HSTS and secure cookies off DEBUG.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agents.authentication.AgentKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "autonomy.core.api_pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "autonomy.core.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "autonomy.core.api_errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["autonomy.core.api_parsers.StorableJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# The largest page a list answers (a larger ?limit= is taken as this).
AUTONOMY_API_MAX_LIMIT = env.int("AUTONOMY_API_MAX_LIMIT", default=500)
SPECTACULAR_SETTINGS = {
    "TITLE": "Autonomy OS API",
    "DESCRIPTION": (
        "The control plane for an enterprise's AI agents. People authenticate with a "
        "session; agents with `Authorization: Bearer <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `state`: name their choice sets instead of numbering them.
    "ENUM_NAME_OVERRIDES": {
        "AgentStateEnum": "agents.models.AgentState",
        "EscalationStateEnum": "workflows.models.inbox.EscalationState",
        "EscalationKindEnum": "workflows.models.inbox.EscalationKind",
        "KindEnum": "governance.models.policies.KillSwitch.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# How often the ledger sealer extends the hash chain over newly committed entries.
AUTONOMY_LEDGER_SEAL_SECONDS = env.int("AUTONOMY_LEDGER_SEAL_SECONDS", default=5)
AUTONOMY_LEDGER_MAX_TX_SECONDS = env.int("AUTONOMY_LEDGER_MAX_TX_SECONDS", default=300)
# Signed checkpoints of the ledger, kept outside the database (governance/checkpoints.py):
# an Ed25519 private key (PEM text, or a file created with a new key when missing), and a
# sink (a JSON Lines file, or an http(s) URL). The default sink sits beside the database
# it vouches for: a new database starts with no checkpoints.
AUTONOMY_LEDGER_CHECKPOINT_KEY = env.str("AUTONOMY_LEDGER_CHECKPOINT_KEY", default="")
# A verifier may be given only the public key (PEM); by default it is the signing key's.
AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY = env.str("AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY", default="")
AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE = env.str(
    "AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE", default=str(BASE_DIR / "var" / "ledger-checkpoint.key")
)
AUTONOMY_LEDGER_CHECKPOINT_SINK = env.str(
    "AUTONOMY_LEDGER_CHECKPOINT_SINK",
    default=(
        f"{SQLITE_PATH}-checkpoints.jsonl"
        if DATABASES["default"]["ENGINE"].endswith("sqlite3")
        else str(BASE_DIR / "var" / f"ledger-checkpoints-{DATABASES['default']['NAME']}.jsonl")
    ),
)

CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-actions": {"task": "workflows.tasks.sweep_stuck_actions", "schedule": 30.0},
    "deliver-due-webhooks": {"task": "workflows.tasks.deliver_due_webhooks", "schedule": 30.0},
    "seal-ledger": {
        "task": "governance.tasks.seal_ledger",
        "schedule": float(AUTONOMY_LEDGER_SEAL_SECONDS),
    },
    "inbox-slas": {
        "task": "workflows.tasks_inbox.check_escalation_slas",
        "schedule": 30.0,
    },
}

# Agent callback URLs on private or loopback addresses (development and tests only).
# Four eyes on policy publishing: one COE member requests, a different one approves.
AUTONOMY_POLICY_FOUR_EYES = env.bool("AUTONOMY_POLICY_FOUR_EYES", default=False)

AUTONOMY_ALLOW_PRIVATE_CALLBACKS = env.bool("AUTONOMY_ALLOW_PRIVATE_CALLBACKS", default=DEBUG)

# Baseline endpoints under /bench/ for bench/actions only (autonomy/bench_views.py).
AUTONOMY_BENCH_ENDPOINTS = env.bool("AUTONOMY_BENCH_ENDPOINTS", default=False)

# The demo's system of record (`manage.py run_demo_erp`), started by `make demo`. Unset:
# run_embedded picks its port (the web port + 9 if free, else any free port).
AUTONOMY_DEMO_ERP_PORT = env.int("AUTONOMY_DEMO_ERP_PORT", default=None)
