"""Project settings, read from the environment (see `.env.example` for every variable and its default).

A local `.env` file at the project root (git-ignored; `make run` writes one) fills in variables the environment
does not set: the process environment always wins over it.
"""

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_file_load,
    env_float,
    env_int,
    env_list,
    env_str,
    env_timezone,
)
from llm import structured

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_READ = env_file_load(BASE_DIR / ".env")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - only ever used with DEBUG on
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "customers.apps.CustomersConfig",
    "llm.apps.LlmConfig",
    "chat.apps.ChatConfig",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, Swagger UI) straight from the app, read asynchronously under ASGI (see docs/decisions/0014).
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database: PostgreSQL (psycopg 3, pooled) when DATABASE_URL is set, else a local SQLite file. ---
DATABASE_URL = env_str("DATABASE_URL")
# PostgreSQL: a chat turn's statements have their values bound by the server and are prepared on their connection from
# their second run (customers.database): the small ones run one plan for all values, the ranking is planned for each
# run's values; Django's own are never prepared. Off for a pooler that cannot keep a session's prepared statements
# (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
# docs/decisions/0040-the-turns-statements-prepared.md, 0041-one-plan-for-the-small-statements.md
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (leave it unset for SQLite)")
    _db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must hand them back after each request
    _db["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 5.0, minimum=0.1),
        },
        "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1),
        # No JIT compilation: the turn's statements run in milliseconds, but their estimated cost (the venue rule's
        # probe, costed on every row a subset might read) passes jit_above_cost from about 10,000 items, and
        # compiling them took 200 ms and more (docs/benchmarks.md).
        "options": "-c jit=off",
    }
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "var" / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the conversation store (llm) on REDIS_URL, never evicted (`maxmemory-policy noeviction`); the customer
# cache (django-redis) on CACHE_REDIS_URL, which may evict (e.g. `allkeys-lru`), by default the same server. ---
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHE_REDIS_URL = env_str("CACHE_REDIS_URL") or REDIS_URL
REDIS_SOCKET_CONNECT_TIMEOUT = env_float("REDIS_SOCKET_CONNECT_TIMEOUT", 0.5, minimum=0.01, maximum=30)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 1.0, minimum=0.01, maximum=60)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "cb"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_CONNECT_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        },
    }
}
CUSTOMER_CACHE_TTL = env_int("CUSTOMER_CACHE_TTL", 600, minimum=1)
CUSTOMER_CACHE_MISSING_TTL = env_int("CUSTOMER_CACHE_MISSING_TTL", 30, minimum=1)
CUSTOMER_CACHE_FILL_TIMEOUT = env_float("CUSTOMER_CACHE_FILL_TIMEOUT", 2.0, minimum=0.05, maximum=30)

# --- The model: any OpenAI-compatible endpoint; the offline provider when neither key nor base URL is set. ---
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_CONNECT_TIMEOUT = env_float("LLM_CONNECT_TIMEOUT", 5.0, minimum=0.1, maximum=60)
LLM_READ_TIMEOUT = env_float("LLM_READ_TIMEOUT", 60.0, minimum=0.1, maximum=600)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0, maximum=10)
LLM_MAX_RETRY_AFTER = env_float("LLM_MAX_RETRY_AFTER", 10.0, minimum=0, maximum=120)
LLM_CONTEXT_BUDGET = env_int("LLM_CONTEXT_BUDGET", 3000, minimum=256)
LLM_REPLY_RESERVE = env_int("LLM_REPLY_RESERVE", 512, minimum=16)
# How a reply asks for its JSON object: negotiated per endpoint and model (auto), or one shape (llm/structured.py).
LLM_STRUCTURED_OUTPUT = env_choice("LLM_STRUCTURED_OUTPUT", structured.AUTO, structured.SETTINGS)
if LLM_REPLY_RESERVE >= LLM_CONTEXT_BUDGET:
    raise ImproperlyConfigured("LLM_REPLY_RESERVE must be smaller than LLM_CONTEXT_BUDGET")

# --- Conversation state in Redis (written only by llm). ---
CHAT_TTL_SECONDS = env_int("CHAT_TTL_SECONDS", 86400, minimum=60)
MOOD_TTL_SECONDS = env_int("MOOD_TTL_SECONDS", 86400, minimum=60)
CHAT_MAX_STORED_MESSAGES = env_int("CHAT_MAX_STORED_MESSAGES", 200, minimum=10)
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 4000, minimum=1)
TURN_LOCK_TTL_SECONDS = env_float("TURN_LOCK_TTL_SECONDS", 180.0, minimum=1)
TURN_LOCK_WAIT_SECONDS = env_float("TURN_LOCK_WAIT_SECONDS", 10.0, minimum=0)
# A turn as a whole (from taking the lock: folds, model calls and retries) ends by then, with llm_timeout. Shorter
# than the lock's lease, so that a turn is over before a lease it could not renew (Redis gone) runs out.
TURN_DEADLINE_SECONDS = env_float("TURN_DEADLINE_SECONDS", TURN_LOCK_TTL_SECONDS * 5 / 6, minimum=0.1)
if TURN_DEADLINE_SECONDS >= TURN_LOCK_TTL_SECONDS:
    raise ImproperlyConfigured("TURN_DEADLINE_SECONDS must be smaller than TURN_LOCK_TTL_SECONDS")
# Open sessions per customer; one more is refused with 409 too_many_open_sessions (end one to open another).
CHAT_MAX_OPEN_SESSIONS = env_int("CHAT_MAX_OPEN_SESSIONS", 50, minimum=1)
PAST_SESSION_SUMMARIES = env_int("PAST_SESSION_SUMMARIES", 3, minimum=0, maximum=20)
# Days an ended session's transcript stays in the database (opt-in; 0: only its summary is kept). docs/decisions/0017.
CHAT_ARCHIVE_DAYS = env_int("CHAT_ARCHIVE_DAYS", 0, minimum=0, maximum=3650)
# Recommendations: catalog candidates offered to the model per turn, and the most cards a reply may carry.
RECOMMENDATION_CANDIDATES = env_int("RECOMMENDATION_CANDIDATES", 6, minimum=0, maximum=20)
RECOMMENDATIONS_MAX = env_int("RECOMMENDATIONS_MAX", 3, minimum=1, maximum=10)
CHAT_SSE_HEARTBEAT_SECONDS = env_float("CHAT_SSE_HEARTBEAT_SECONDS", 10.0, minimum=0.05, maximum=300)
# A streamed reply's text arriving within this window after a delta event goes out as one event (0: one per token).
SSE_COALESCE_MS = env_float("SSE_COALESCE_MS", 30.0, minimum=0, maximum=1000)

# --- Throttling (Redis, shared by every process). ---
THROTTLE_TURNS_PER_MINUTE = env_int("THROTTLE_TURNS_PER_MINUTE", 20, minimum=1)
DAILY_TOKEN_QUOTA = env_int("DAILY_TOKEN_QUOTA", 200_000, minimum=1)
# Every other customer request (reads, opens, moods, ends, deletes, feedback) per customer per minute; 0: no limit.
THROTTLE_REQUESTS_PER_MINUTE = env_int("THROTTLE_REQUESTS_PER_MINUTE", 120, minimum=0)
# Per client address: API tokens looked up in the database (tokens not in the cache: unknown ones, mostly); 0: no limit.
THROTTLE_TOKEN_LOOKUPS_PER_MINUTE = env_int("THROTTLE_TOKEN_LOOKUPS_PER_MINUTE", 60, minimum=0)
# Admin sign-in attempts per client address and per username, in a sliding window; 0: no limit.
ADMIN_LOGIN_ATTEMPTS_PER_IP = env_int("ADMIN_LOGIN_ATTEMPTS_PER_IP", 20, minimum=0)
ADMIN_LOGIN_ATTEMPTS_PER_USERNAME = env_int("ADMIN_LOGIN_ATTEMPTS_PER_USERNAME", 10, minimum=0)
ADMIN_LOGIN_WINDOW_SECONDS = env_int("ADMIN_LOGIN_WINDOW_SECONDS", 900, minimum=1)
# A /readyz answer is reused this long by its process (the checks ping the database and Redis); 0: every hit checks.
READYZ_CACHE_SECONDS = env_float("READYZ_CACHE_SECONDS", 1.0, minimum=0, maximum=10)

# --- Spending: a customer's spending belongs to a calendar month of this time zone (customers/spending.py). ---
BUDGET_TIMEZONE = env_timezone("BUDGET_TIMEZONE", "Asia/Seoul")

# --- Auth, API and schema. ---
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The chat page's sign-in (chat.pages); the admin keeps its own.
LOGIN_URL = "chat-login"
LOGIN_REDIRECT_URL = "chat-page"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Token <key>` answered from the customers cache (no SQL when warm); the session cookie
        # (with CSRF on writes) for the chat page and the browsable API.
        "chat.authentication.CachedTokenAuthentication",
        "chat.authentication.CustomerSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["chat.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "chat.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "chat.openapi.ChatAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Personalized chatbot API",
    "DESCRIPTION": "Sessions, messages and moods of a personalized recommendation chatbot.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # What precedes an operation's tag in its path: /api/v1/sessions/… is tagged `sessions`.
    "SCHEMA_PATH_PREFIX": r"/api/v\d+",
    # Swagger UI assets ship with the project (drf-spectacular-sidecar): the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}

# --- Production hardening: on whenever DEBUG is off (`manage.py check --deploy` is clean then). ---
# The header a TLS-terminating proxy in front sets to "https" (e.g. X-Forwarded-Proto), trusted only when named
# here: without such a proxy, any client could send it over plain HTTP and pass for HTTPS.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER")
if _PROXY_SSL_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", _PROXY_SSL_HEADER):
    raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name, got {_PROXY_SSL_HEADER!r}")
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Logging: one structured line per event, a request id on each; never message text, tokens or PII. ---
LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOG_FORMAT = env_choice("LOG_FORMAT", "kv", ("kv", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "kv": {"()": "config.logging.KeyValueFormatter"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Request lines name the path only; django.request would log full 4xx detail we already render.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}
