"""The docs name only what exists: every file path and every project module or name they put in backticks.

A path token (`llm/window.py`, `begin.lua`, `catalog/stated.py`) must be a file or directory of the repository,
found from the repository root, from the document's folder, or anywhere under the document's app. A dotted token whose
first part is a project package (`customers.services.turn_facts_get`) or a module of the document's app
(`search.bound` in customers/README.md) must import and resolve; `app.name` is read as the app's one public module,
`app.services.name`. Anything else in backticks (JSON fields, settings, other libraries' names) is not checked.
"""

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "chat", "config", "customers", "evals", "llm", "scripts", "tests")
APPS = ("bench", "chat", "customers", "evals", "llm")
FILE_SUFFIXES = (".py", ".md", ".lua", ".json", ".jsonl", ".toml", ".txt", ".html", ".js", ".css", ".png", ".cfg")
# Written by the commands the docs describe, never committed.
GENERATED = ("var/", "bench/results/", "evals/results/")
# Backticked names of other libraries that happen to start like a project package.
NOT_OURS = {"chat.completions.create"}

TOKEN = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"^[A-Za-z0-9_.*-]+(/[A-Za-z0-9_.*-]+)*/?$")
DOTTED = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(\(.*\))?$")  # a name, or a call of it


def hidden(path: Path) -> bool:
    """Inside a virtualenv or another dot-folder: not the project's own."""
    return any(part.startswith(".") for part in path.relative_to(ROOT).parts)


def documents() -> list[Path]:
    found = [ROOT / "README.md", *ROOT.glob("*/README.md"), *ROOT.glob("docs/**/*.md")]
    return sorted(path for path in found if not hidden(path))


def scope(document: Path) -> Path:
    """Where a bare name in the document is looked up: its app, or the whole repository."""
    folder = document.parent
    return folder if folder.name in APPS else ROOT


def tokens(document: Path) -> Iterator[str]:
    for match in TOKEN.finditer(document.read_text()):
        yield match.group(1).strip()


def is_path(token: str) -> bool:
    if not PATH.match(token) or token.startswith(".") or token.startswith(GENERATED):
        return False
    return token.endswith(FILE_SUFFIXES) or token.split("/")[0] in (*PACKAGES, "docs")


def path_exists(token: str, document: Path) -> bool:
    for base in (ROOT, document.parent):
        if (base / token).exists() or any(base.glob(token)):
            return True
    return any(not hidden(path) for path in scope(document).glob(f"**/{token}"))


def modules_named(stem: str, document: Path) -> list[str]:
    """Dotted module names of the files called `stem`.py in the document's scope."""
    files = [path for path in scope(document).glob(f"**/{stem}.py") if not hidden(path)]
    return [".".join(path.relative_to(ROOT).with_suffix("").parts) for path in files]


def resolves(module_name: str, attributes: list[str]) -> bool:
    try:
        target = importlib.import_module(module_name)
    except ImportError:
        return False
    for attribute in attributes:
        if not hasattr(target, attribute):
            return False
        target = getattr(target, attribute)
    return True


def name_exists(token: str, document: Path) -> bool | None:
    """Whether a dotted token resolves; None when it does not name a project module at all."""
    parts = DOTTED.match(token).group(1).split(".")
    if parts[0] in PACKAGES:
        for cut in range(len(parts), 0, -1):
            if resolves(".".join(parts[:cut]), parts[cut:]):
                return True
        return resolves(f"{parts[0]}.services", parts[1:])
    candidates = modules_named(parts[0], document)
    if not candidates:
        return None
    return any(resolves(module, parts[1:]) for module in candidates)


def missing(document: Path) -> list[str]:
    """The document's backticked paths and names that do not exist."""
    absent = []
    for token in dict.fromkeys(tokens(document)):
        if token in NOT_OURS:
            continue
        if is_path(token):
            if not path_exists(token, document):
                absent.append(token)
        elif DOTTED.match(token) and not token.endswith(FILE_SUFFIXES) and name_exists(token, document) is False:
            absent.append(token)
    return absent


def test_a_stale_name_is_caught(tmp_path):
    probe = tmp_path / "probe.md"
    probe.write_text("`llm/window.py`, `search.bound`, `llm/gone.py`, `customers.services.gone`, `window.gone`\n")
    assert missing(probe) == ["llm/gone.py", "customers.services.gone", "window.gone"]


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_each_documented_path_and_name_exists(document):
    assert missing(document) == [], f"{document.relative_to(ROOT)} names what is not in the repository"


def test_the_decision_index_lists_every_record():
    decisions = ROOT / "docs" / "decisions"
    index = (decisions / "README.md").read_text()
    unlisted = [path.name for path in sorted(decisions.glob("[0-9]*.md")) if f"]({path.name})" not in index]
    assert unlisted == [], "docs/decisions/README.md does not list these records"
