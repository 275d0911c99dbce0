"""Django settings for tousu's web app. Configuration comes from the environment, read once here."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TOUSU_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


DEBUG = env_bool("TOUSU_DEBUG", False)
SECRET_KEY = os.environ.get("TOUSU_SECRET_KEY") or ("insecure-dev-key-" + str(BASE_DIR))
ALLOWED_HOSTS = os.environ.get("TOUSU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("TOUSU_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the API docs' Swagger UI from its own static files, not a CDN
    "tousu_web.complaints",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tousu_web.urls"
WSGI_APPLICATION = "tousu_web.wsgi.application"

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

DB_ENGINE = os.environ.get("TOUSU_DB", "sqlite")
if DB_ENGINE == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("TOUSU_SQLITE_PATH", str(VAR_DIR / "tousu.sqlite3")),
            "OPTIONS": {
                # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN,
                # so two writers queue instead of failing with "database is locked" mid-transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": os.environ.get("TOUSU_SQLITE_TEST_PATH")},
        }
    }
elif DB_ENGINE == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "tousu"),
            "USER": os.environ.get("PGUSER", "tousu"),
            "PASSWORD": os.environ.get("PGPASSWORD", "tousu"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": env_int("PGPORT", 5432),
            "CONN_MAX_AGE": env_int("TOUSU_CONN_MAX_AGE", 60),
            # A run of the test suite gets its own database, so parallel runs never collide.
            "TEST": {"NAME": os.environ.get("TOUSU_PG_TEST_NAME") or f"test_tousu_{os.getpid()}"},
        }
    }
else:
    raise ImproperlyConfigured(f"TOUSU_DB must be 'sqlite' or 'postgresql', not {DB_ENGINE!r}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("TOUSU_MEDIA_ROOT", VAR_DIR / "media"))

LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:queue"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

EMAIL_BACKEND = os.environ.get("TOUSU_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("TOUSU_FROM_EMAIL", "tousu@localhost")
TOUSU_SMS_BACKEND = os.environ.get("TOUSU_SMS_BACKEND", "tousu_web.complaints.notify.LoggingSmsBackend")

# Evidence uploads (portal and API).
TOUSU_MAX_UPLOAD_BYTES = env_int("TOUSU_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
TOUSU_MAX_UPLOADS = env_int("TOUSU_MAX_UPLOADS", 10)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Anonymous submissions per client address per hour; login attempts per address per 15 minutes.
TOUSU_SUBMIT_RATE = env_int("TOUSU_SUBMIT_RATE", 30)
TOUSU_LOGIN_RATE = env_int("TOUSU_LOGIN_RATE", 10)
# Access-code recoveries (portal and API) per client address per hour, and per tracking number per day.
TOUSU_RECOVER_RATE = env_int("TOUSU_RECOVER_RATE", 5)
# How long before a deadline the worker warns, in hours.
TOUSU_WARN_HOURS = env_int("TOUSU_WARN_HOURS", 48)

# Rate limits are counted in the cache, so it lives in the database: several web processes (gunicorn
# workers, several machines) share one count per client instead of each allowing the full rate.
# Culling past MAX_ENTRIES would drop live counts (and reset a client's limit), so it is generous.
CACHES = {
    "default": {
        "BACKEND": "tousu_web.cache.DatabaseCache",
        "LOCATION": "tousu_cache",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask": {"()": "tousu_web.complaints.logmask.MaskPersonalData"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("TOUSU_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
