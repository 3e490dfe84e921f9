"""The local `.env` file: what `make run` writes, what the settings read from it, and that the environment wins."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_file_load

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _write_env(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/dev_env.py", "--path", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def _settings_of(env_file: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT)), "ENV_FILE": str(env_file), **env}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", "from django.conf import settings; " + code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=50,
    )


def test_make_run_writes_a_local_env_with_debug_on_and_a_generated_secret_key(tmp_path):
    path = tmp_path / ".env"
    _write_env(path)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    assert values["DEBUG"].split("#")[0].strip() == "true"
    assert len(values["SECRET_KEY"]) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    example = (ROOT / ".env.example").read_text().splitlines()
    assert {line.split("=", 1)[0] for line in example if line and not line.startswith("#")} == set(values)

    other = tmp_path / "other.env"
    _write_env(other)
    assert other.read_text() != path.read_text()  # a secret of its own
    before = path.read_text()
    _write_env(path)
    assert path.read_text() == before  # an existing file is never touched


def test_the_settings_read_the_env_file_and_the_environment_wins(tmp_path):
    path = tmp_path / ".env"
    _write_env(path)
    code = "print(settings.DEBUG, len(settings.SECRET_KEY), settings.LLM_MODEL, settings.ENV_FILE_READ)"

    result = _settings_of(path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", str(len(settings_key(path))), "gpt-4o-mini", str(path)]

    result = _settings_of(path, code, DEBUG="false", LLM_MODEL="llama3.1")
    assert "SECRET_KEY" not in result.stderr, result.stderr  # the file's key still fills in
    assert result.stdout.split()[0::2] == ["False", "llama3.1"]


def test_without_an_env_file_debug_off_still_needs_a_secret_key(tmp_path):
    result = _settings_of(tmp_path / "none", "print(settings.DEBUG)", ENV_FILE="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_env_file_load_fills_in_only_unset_variables(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("CB_TEST_A=from-file # a comment\nCB_TEST_B=from-file\nCB_TEST_C='a $B value'\n")
    monkeypatch.delenv("ENV_FILE", raising=False)
    monkeypatch.setenv("CB_TEST_B", "from-environment")
    for name in ("CB_TEST_A", "CB_TEST_C"):
        monkeypatch.delenv(name, raising=False)

    assert env_file_load(path) == path
    assert os.environ["CB_TEST_A"] == "from-file"
    assert os.environ["CB_TEST_B"] == "from-environment"
    assert os.environ["CB_TEST_C"] == "a $B value"  # no interpolation


def test_env_file_variable_picks_another_file_or_none(tmp_path, monkeypatch):
    path = tmp_path / "custom.env"
    path.write_text("CB_TEST_D=custom\n")
    monkeypatch.delenv("CB_TEST_D", raising=False)

    monkeypatch.setenv("ENV_FILE", "")
    assert env_file_load(path) is None
    assert "CB_TEST_D" not in os.environ

    monkeypatch.setenv("ENV_FILE", str(path))
    assert env_file_load(tmp_path / "absent") == path
    assert os.environ["CB_TEST_D"] == "custom"

    monkeypatch.setenv("ENV_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match="ENV_FILE"):
        env_file_load(path)

    monkeypatch.delenv("ENV_FILE")
    assert env_file_load(tmp_path / "absent") is None  # no default file: production has none


def settings_key(path: Path) -> str:
    return next(line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith("SECRET_KEY="))


def test_the_tests_and_their_processes_read_no_env_file(settings):
    assert settings.ENV_FILE_READ is None
    assert os.environ["ENV_FILE"] == ""  # inherited by every subprocess a test starts
    assert settings.LLM_MODEL == "gpt-4o-mini"
