"""Settings, read from the environment.

With nothing set this is the embedded default: SQLite, Celery in eager mode, DEBUG on.
Set DATABASE_URL / REDIS_URL for PostgreSQL and a real broker; DEBUG=0 for production, which
refuses to start without a real SECRET_KEY and FIELD_ENCRYPTION_KEY.
"""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=True)

DEV_SECRET_KEY = "dev-insecure-only-for-the-embedded-default-never-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEV_FIELD_ENCRYPTION_KEY = "dev-field-key-not-for-production"
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")

if DEBUG:
    SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY
    FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEY or DEV_FIELD_ENCRYPTION_KEY
else:
    if len(SECRET_KEY) < 50 or SECRET_KEY == DEV_SECRET_KEY or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off."
        )
    if len(FIELD_ENCRYPTION_KEY) < 32 or FIELD_ENCRYPTION_KEY == DEV_FIELD_ENCRYPTION_KEY:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be set to a random value of at least 32 characters "
            "when DEBUG is off."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mptt",
    "party_org",
    "grids",
    "volunteers",
    "property_mgmt",
    "governance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "party_org.personal_data.PersonalDataAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Production serves static files itself (WhiteNoise); in DEBUG Django's staticfiles does.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "governance.urls"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

# Database: SQLite file unless DATABASE_URL says otherwise.
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{SQLITE_PATH}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside a writer; the busy timeout rides out short write locks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_PATH") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Chinese first; English stays available.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
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
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "data" / "media"))

# Public resident reports (随手拍): photo size cap and per-address limits ("count/seconds").
GRID_EVENT_PHOTO_MAX_BYTES = int(os.environ.get("GRID_EVENT_PHOTO_MAX_BYTES", str(5 * 1024 * 1024)))
GRID_REPORT_RATE_LIMIT = os.environ.get("GRID_REPORT_RATE_LIMIT", "5/600")
GRID_TRACK_RATE_LIMIT = os.environ.get("GRID_TRACK_RATE_LIMIT", "30/60")
# Reverse proxies in front of the app that append to X-Forwarded-For; 0 trusts REMOTE_ADDR only.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

LOGIN_URL = "admin:login"

# Property service: the transition subsidy of 财政补贴过渡 (seed 003: 0.5 yuan per m² per month for
# six months) and the service scores below which a compound is on the red/yellow watch list.
PROPERTY_SUBSIDY_RATE = Decimal(os.environ.get("PROPERTY_SUBSIDY_RATE", "0.50"))
PROPERTY_SUBSIDY_MONTHS = int(os.environ.get("PROPERTY_SUBSIDY_MONTHS", "6"))
PROPERTY_WATCH_RED_BELOW = Decimal(os.environ.get("PROPERTY_WATCH_RED_BELOW", "3.0"))
PROPERTY_WATCH_YELLOW_BELOW = Decimal(os.environ.get("PROPERTY_WATCH_YELLOW_BELOW", "3.5"))
# Code checks and answers on the public evaluation form, per address: "count/seconds".
PROPERTY_EVALUATION_RATE_LIMIT = os.environ.get("PROPERTY_EVALUATION_RATE_LIMIT", "20/600")

# Micro-wishes, activities and the points ledger (seeds 000, 002, 003). A claim locks a wish for
# VOLUNTEER_WISH_CLAIM_HOURS; points are paid on the rating or VOLUNTEER_WISH_PAY_UNRATED_DAYS after
# fulfilment; wishes waiting longer than VOLUNTEER_WISH_UNCLAIMED_DAYS are flagged for staff.
VOLUNTEER_WISH_CLAIM_HOURS = int(os.environ.get("VOLUNTEER_WISH_CLAIM_HOURS", "48"))
VOLUNTEER_WISH_PAY_UNRATED_DAYS = int(os.environ.get("VOLUNTEER_WISH_PAY_UNRATED_DAYS", "7"))
VOLUNTEER_WISH_UNCLAIMED_DAYS = int(os.environ.get("VOLUNTEER_WISH_UNCLAIMED_DAYS", "3"))
# Per-address limits ("count/seconds") of the public wish form and of the wish tracking pages,
# counted apart from the GRID_* ones of the grid report pages.
VOLUNTEER_WISH_RATE_LIMIT = os.environ.get("VOLUNTEER_WISH_RATE_LIMIT", "5/600")
VOLUNTEER_WISH_TRACK_RATE_LIMIT = os.environ.get("VOLUNTEER_WISH_TRACK_RATE_LIMIT", "30/60")
# The merchant's page: redemption-code checks per merchant login, and sign-in attempts per address.
VOLUNTEER_MERCHANT_CODE_RATE_LIMIT = os.environ.get("VOLUNTEER_MERCHANT_CODE_RATE_LIMIT", "60/600")
VOLUNTEER_MERCHANT_LOGIN_RATE_LIMIT = os.environ.get(
    "VOLUNTEER_MERCHANT_LOGIN_RATE_LIMIT", "10/600"
)
# Residents' light login: a one-time code sent by VOLUNTEER_SMS_BACKEND (a dotted path to
# send(phone_digits, code, ttl_seconds); the default prints it on the console, for development).
VOLUNTEER_SMS_BACKEND = os.environ.get(
    "VOLUNTEER_SMS_BACKEND", "volunteers.portal_login.console_sender"
)
VOLUNTEER_LOGIN_CODE_TTL = int(os.environ.get("VOLUNTEER_LOGIN_CODE_TTL", "600"))
VOLUNTEER_LOGIN_PHONE_RATE_LIMIT = os.environ.get("VOLUNTEER_LOGIN_PHONE_RATE_LIMIT", "5/3600")
VOLUNTEER_LOGIN_ADDRESS_RATE_LIMIT = os.environ.get(
    "VOLUNTEER_LOGIN_ADDRESS_RATE_LIMIT", "20/3600"
)
VOLUNTEER_LOGIN_VERIFY_RATE_LIMIT = os.environ.get("VOLUNTEER_LOGIN_VERIFY_RATE_LIMIT", "30/600")
# The check-in code works from this long before an activity starts until this long after it ends;
# after this many wrong codes a sign-up can no longer check in by code.
VOLUNTEER_CHECKIN_OPENS_MINUTES = int(os.environ.get("VOLUNTEER_CHECKIN_OPENS_MINUTES", "30"))
VOLUNTEER_CHECKIN_CLOSES_MINUTES = int(os.environ.get("VOLUNTEER_CHECKIN_CLOSES_MINUTES", "30"))
VOLUNTEER_CHECKIN_MAX_FAILURES = int(os.environ.get("VOLUNTEER_CHECKIN_MAX_FAILURES", "5"))
POINTS_WISH_REWARD = Decimal(os.environ.get("POINTS_WISH_REWARD", "10"))
POINTS_POST_DUTY = Decimal(os.environ.get("POINTS_POST_DUTY", "5"))
# 公分 per 党员积分 when a retired member converts (seed 000).
POINTS_CONVERSION_RATE = Decimal(os.environ.get("POINTS_CONVERSION_RATE", "10"))
# Lifetime points needed for 1★..5★ (seed 003's star-rated points).
POINTS_STAR_THRESHOLDS = [
    Decimal(v) for v in env_list("POINTS_STAR_THRESHOLDS", "50,100,200,400,800")
]
# Party members of these categories earn 党员积分; everyone else (retired members included, whose
# 公分 convert) earns 公分.
POINTS_MEMBER_CATEGORIES = env_list("POINTS_MEMBER_CATEGORIES", "direct,mobile,in_service")

# Redis and Celery: eager in process unless REDIS_URL points at a broker.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "verify-organisation-tree-nightly": {
        "task": "party_org.tasks.verify_org_tree",
        "schedule": 24 * 60 * 60,
    },
    "escalate-overdue-grid-events": {
        "task": "grids.escalate_overdue_events",
        "schedule": 15 * 60,
    },
    "release-expired-wish-claims": {
        "task": "volunteers.release_expired_claims",
        "schedule": 15 * 60,
    },
    "pay-unrated-wishes": {
        "task": "volunteers.pay_unrated_wishes",
        "schedule": 60 * 60,
    },
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so a bad token answers 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["party_org.api.permissions.ScopedModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "party_org.api.base.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "600/min"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "社区治理综合管理平台 API",
    "DESCRIPTION": "Organisation tree, ledgers and statistics of the community governance portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Dozens of tags: let readers filter by tag and link to one.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "filter": True, "persistAuthorization": True},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have fields named kind/status/category: give each choice set its own name.
    "ENUM_NAME_OVERRIDES": {
        "OrgKindEnum": "party_org.models.OrgKind",
        "WorkUnitKindEnum": "party_org.models.WorkUnit.Kind",
        "PostKindEnum": "party_org.models.PostKind",
        "EmergencyRoleKindEnum": "party_org.models.EmergencyRoleKind",
        "RegistrationStatusEnum": "party_org.models.InServiceRegistration.Status",
        "MemberStatusEnum": "party_org.models.MemberStatus",
        "MemberCategoryEnum": "party_org.models.MemberCategory",
        "FundCategoryEnum": "party_org.models.FundCategory",
        "ListKindEnum": "party_org.models.ListKind",
        "ListItemStatusEnum": "party_org.models.ListItem.Status",
        "GridWorkerKindEnum": "grids.models.GridWorkerKind",
        "GridEventStatusEnum": "grids.models.EventStatus",
        "GridEventActionEnum": "grids.models.EventAction",
        "GridEventSourceEnum": "grids.models.EventSource",
        "CommitteeKindEnum": "property_mgmt.models.CommitteeKind",
        "DeliberationStatusEnum": "property_mgmt.models.DeliberationStatus",
        "PartyKindEnum": "property_mgmt.models.PartyKind",
        "WishStatusEnum": "volunteers.models.WishStatus",
        "WishCategoryEnum": "volunteers.models.WishCategory",
        "WishActionEnum": "volunteers.models.WishAction",
        "PointsKindEnum": "volunteers.models.PointsKind",
        "PointsEntryReasonEnum": "volunteers.models.EntryReason",
        "RedemptionStatusEnum": "volunteers.models.RedemptionStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

PORTAL_NAME = _("Community Governance Portal")

# Production hardening: on whenever DEBUG is off, so `check --deploy` passes clean.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_REFERRER_POLICY = "same-origin"
