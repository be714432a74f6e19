"""Production settings (DEBUG=0), each run in a fresh interpreter as the server would start."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

# Whatever the calling shell or CI pass set must not leak into these runs.
SCRUBBED = (
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SQLITE_PATH",
    "SQLITE_TEST_PATH",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "DB_CONN_MAX_AGE",
)


def clean_env(tmp_path, **overrides):
    # DJANGO_* too: e.g. the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SCRUBBED and not key.startswith("DJANGO_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    env["SQLITE_PATH"] = str(tmp_path / "settings-check.sqlite3")
    env.update(overrides)
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_keys():
    secret_key = secrets.token_urlsafe(48)
    field_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert len(secret_key) == 64 and len(field_key) == 44
    return {"SECRET_KEY": secret_key, "FIELD_ENCRYPTION_KEY": field_key}


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    keys = production_keys()
    result = manage(
        clean_env(
            tmp_path,
            DEBUG="0",
            FIELD_ENCRYPTION_KEY=keys["FIELD_ENCRYPTION_KEY"],
            ALLOWED_HOSTS="portal.example.org",
        ),
        "check",
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    ["short-but-random-Xy9", "DEV_SECRET_KEY", "a" * 64],
    ids=["too-short", "the-development-key", "one-character"],
)
def test_production_refuses_a_weak_secret_key(tmp_path, secret_key):
    if secret_key == "DEV_SECRET_KEY":
        secret_key = settings.DEV_SECRET_KEY
    keys = production_keys()
    result = manage(
        clean_env(
            tmp_path,
            DEBUG="0",
            SECRET_KEY=secret_key,
            FIELD_ENCRYPTION_KEY=keys["FIELD_ENCRYPTION_KEY"],
            ALLOWED_HOSTS="portal.example.org",
        ),
        "check",
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_a_field_encryption_key(tmp_path):
    keys = production_keys()
    result = manage(
        clean_env(tmp_path, DEBUG="0", SECRET_KEY=keys["SECRET_KEY"], ALLOWED_HOSTS="portal.example.org"),
        "check",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_production_settings_pass_the_deployment_checklist(tmp_path):
    result = manage(
        clean_env(tmp_path, DEBUG="0", ALLOWED_HOSTS="portal.example.org", **production_keys()),
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output
    assert "security.W" not in output


def test_the_deployment_checklist_is_not_vacuous(tmp_path):
    """The same check does fail on an insecure configuration, so the clean pass above means something."""
    result = manage(
        clean_env(
            tmp_path,
            DEBUG="0",
            ALLOWED_HOSTS="portal.example.org",
            SECURE_SSL_REDIRECT="0",
            SECURE_HSTS_SECONDS="0",
            **production_keys(),
        ),
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "security.W004" in output  # no HSTS
    assert "security.W008" in output  # no HTTPS redirect
