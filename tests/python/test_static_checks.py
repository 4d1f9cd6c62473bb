"""Static checks over the Python sources, configured in pyproject.toml: mypy on the package
(hints, the extension's stub and the code agree) and ruff on everything Python. Each is
skipped where the tool is not installed (pip install mypy ruff)."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_mypy_clean():
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_clean():
    pytest.importorskip("ruff")
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "python", "tests", "bench", "examples",
                        "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, "ruff check python tests bench examples scripts:\n" + r.stdout + r.stderr
