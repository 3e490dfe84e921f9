"""Settings load from the environment the way production and the quick start use them (separate processes)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/chatbot",
}

pytestmark = pytest.mark.timeout(60)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only what a fresh shell has: the test process's own settings must not leak into the child.
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT)), "ENV_FILE": "", **env}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=50
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_without_a_secret_key_refuses_to_start():
    result = _manage("check", env={"DEBUG": "false", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_READ_TIMEOUT": "forever"}, "LLM_READ_TIMEOUT must be a number"),
        (
            {"LLM_STRUCTURED_OUTPUT": "xml"},
            "LLM_STRUCTURED_OUTPUT must be one of auto, json_schema, json_object, prompt",
        ),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL must be a postgres:// URL"),
        ({"LLM_CONTEXT_BUDGET": "1000", "LLM_REPLY_RESERVE": "1000"}, "LLM_REPLY_RESERVE must be smaller"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "SECURE_PROXY_SSL_HEADER must be a header name"),
        ({"BUDGET_TIMEZONE": "Asia/Busan"}, "BUDGET_TIMEZONE must be an IANA time zone"),
        ({"BUDGET_TIMEZONE": "../etc/passwd"}, "BUDGET_TIMEZONE must be an IANA time zone"),
    ],
)
def test_bad_environment_fails_at_start_naming_the_variable(env, message):
    result = _manage("check", env={"DEBUG": "true", **env})
    assert result.returncode != 0
    assert message in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_without_database_url_the_quick_start_uses_sqlite(tmp_path):
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_with_database_url_postgres_is_pooled():
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default']; print(d['ENGINE'], 'pool' in d['OPTIONS'])"
    )
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql True"


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(None, "True -c jit=off"), ("false", "False -c jit=off")],
)
def test_prepared_statements_are_on_unless_turned_off(flag, expected):
    code = (
        "from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(s.DATABASE_PREPARED_STATEMENTS, o['options'])"
    )
    env = PRODUCTION_ENV if flag is None else {**PRODUCTION_ENV, "DATABASE_PREPARED_STATEMENTS": flag}
    result = _manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
