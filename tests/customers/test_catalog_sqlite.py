"""The catalog on SQLite (the quick start's database): the candidate tests, the property-based rule test among them,
and the import tests run again, in a pytest of their own with DATABASE_URL unset."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

FILES = (
    "tests/customers/test_catalog_candidates.py",
    "tests/customers/test_catalog_import.py",
    "tests/customers/test_memory.py",
)
# These start a subprocess against the database by URL, which an in-memory SQLite test database has not.
SKIPPED = "not 100000 and not exits_non_zero and not closing_bracket"


@pytest.mark.processes
@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), reason="already on SQLite")
def test_the_catalog_tests_pass_on_sqlite():
    env = dict(os.environ, DATABASE_URL="")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *FILES, "-q", "-k", SKIPPED],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout
