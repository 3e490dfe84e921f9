"""Typed readers for environment variables, and the optional local `.env` file that feeds them.

Every setting comes from the environment through one of these helpers, so a bad value fails at startup with
`ImproperlyConfigured` naming the variable, never later as a confusing runtime error.
"""

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_file_load(default_path: Path) -> Path | None:
    """Put the variables of a local `.env` file into the environment; a variable already set keeps its value.

    `ENV_FILE` names another file, or none when empty (the tests and their server processes read none). A missing
    default file is fine (production has none); a missing file that `ENV_FILE` names is an error. Returns the file
    read, if any.
    """
    named = os.environ.get("ENV_FILE")
    if named is not None and not named.strip():
        return None
    path = Path(named.strip()) if named is not None else default_path
    if not path.is_file():
        if named is not None:
            raise ImproperlyConfigured(f"ENV_FILE names {str(path)!r}, which is not a readable file")
        return None
    for name, value in dotenv_values(path, interpolate=False).items():
        if value is not None:  # a bare `NAME` line without `=` sets nothing
            os.environ.setdefault(name, value)
    return path


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        value = default
    else:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    _check_range(name, value, minimum, maximum)
    return value


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        value = default
    else:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    _check_range(name, value, minimum, maximum)
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_timezone(name: str, default: str) -> str:
    """An IANA time zone name (`Asia/Seoul`, `UTC`), checked against the zone database."""
    value = env_str(name, default) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ImproperlyConfigured(f"{name} must be an IANA time zone such as Asia/Seoul, got {value!r}") from None
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")
