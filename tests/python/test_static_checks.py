"""Static checks over the Python sources, configured in pyproject.toml: mypy on the package
(hints, the extension's stub and the code agree) and ruff on everything Python. Both tools are
installed by scripts/setup.sh."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_mypy_clean():
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "python", "tests", "bench", "examples",
                        "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, "ruff check python tests bench examples scripts:\n" + r.stdout + r.stderr
