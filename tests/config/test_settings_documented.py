"""Each setting's default is declared once, in config/settings.py; `.env.example` and the README's configuration
table repeat it for readers, and this test holds them to it.

The defaults are read from the source (the literal second argument of each `env_int`/`env_float`/`env_str`/
`env_bool` call), not from the running settings, so the test environment's own values cannot hide a drift.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = {"env_int", "env_float", "env_str", "env_bool"}
EXAMPLE_LINE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]+)=(\S*)")
README_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| `?([^`|]+?)`? \|")


def declared() -> dict[str, object]:
    """Every variable the settings read, with its literal default (None when the default is computed)."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in READERS:
            name = node.args[0].value
            default = node.args[1] if len(node.args) > 1 else ast.Constant("")
            found[name] = default.value if isinstance(default, ast.Constant) else None
    return found


def same(default: object, written: str) -> bool:
    if isinstance(default, bool):
        return written.lower() == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(written.replace("_", "")) == float(default)
        except ValueError:
            return False
    return written == default


def example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {match[1]: match[2] for match in map(EXAMPLE_LINE.match, lines) if match}


def test_the_scan_reads_literal_and_computed_defaults():
    defaults = declared()
    assert defaults["LLM_MODEL"] == "gpt-4o-mini"
    assert defaults["SSE_COALESCE_MS"] == 30.0
    assert defaults["TURN_DEADLINE_SECONDS"] is None  # derived from the lock's TTL


def test_env_example_lists_every_setting_with_its_default():
    defaults, written = declared(), example()
    assert sorted(set(defaults) - set(written)) == [], ".env.example lacks these settings"
    drifted = {
        name: (written[name], default)
        for name, default in defaults.items()
        if default not in (None, "") and not same(default, written[name])
    }
    assert drifted == {}, "(.env.example, settings.py) disagree"


def test_the_readme_table_states_the_settings_defaults():
    defaults = declared()
    rows = [README_ROW.match(line) for line in (ROOT / "README.md").read_text().splitlines()]
    stated = {row[1]: row[2] for row in rows if row and row[1] in defaults}
    assert len(stated) >= 5
    drifted = {
        name: (text, defaults[name])
        for name, text in stated.items()
        if defaults[name] not in (None, "") and not same(defaults[name], text.split(": ")[0].strip())
    }
    assert drifted == {}, "(README, settings.py) disagree"
