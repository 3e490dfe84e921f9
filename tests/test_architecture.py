"""The boundaries of the reference architecture are enforced: a planted bad import must fail lint-imports."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.timeout(120)


def _copy_project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    target.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", target)
    for package in ("config", "chat", "customers", "llm"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_contracts_hold_on_the_real_tree(tmp_path):
    result = _lint_imports(_copy_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("llm/planted.py", "import customers.services\n"),
        ("llm/planted.py", "from django.db import models\n"),
        ("customers/planted.py", "import llm.services\n"),
        ("customers/planted.py", "import chat.health\n"),
        ("chat/planted.py", "import customers.models\n"),
        ("chat/planted.py", "from customers.data import CustomerProfile\n"),
        ("chat/planted.py", "from customers.ports import LiveTranscript\n"),
        ("chat/planted.py", "import redis\n"),
    ],
)
def test_a_planted_violation_fails(tmp_path, module, bad_import):
    project = _copy_project(tmp_path)
    (project / module).write_text(bad_import)
    result = _lint_imports(project)
    assert result.returncode != 0, f"{bad_import!r} in {module} should break a contract:\n{result.stdout}"
    assert "BROKEN" in result.stdout
