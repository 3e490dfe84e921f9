import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_float, env_int, env_list, env_str


def test_defaults_apply_when_unset(monkeypatch):
    monkeypatch.delenv("X_SETTING", raising=False)
    assert env_str("X_SETTING", "d") == "d"
    assert env_bool("X_SETTING", True) is True
    assert env_int("X_SETTING", 7) == 7
    assert env_float("X_SETTING", 1.5) == 1.5
    assert env_list("X_SETTING", ["a"]) == ["a"]
    assert env_choice("X_SETTING", "kv", ("kv", "json")) == "kv"


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)])
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("X_SETTING", raw)
    assert env_bool("X_SETTING", not expected) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env_bool("X_SETTING", False), "maybe"),
        (lambda: env_int("X_SETTING", 1), "ten"),
        (lambda: env_int("X_SETTING", 1, minimum=1), "0"),
        (lambda: env_float("X_SETTING", 1.0, maximum=2.0), "2.5"),
        (lambda: env_float("X_SETTING", 1.0), "fast"),
        (lambda: env_choice("X_SETTING", "kv", ("kv", "json")), "xml"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("X_SETTING", raw)
    with pytest.raises(ImproperlyConfigured, match="X_SETTING"):
        reader()


def test_lists_are_trimmed(monkeypatch):
    monkeypatch.setenv("X_SETTING", " a.example , ,b.example ")
    assert env_list("X_SETTING", []) == ["a.example", "b.example"]
