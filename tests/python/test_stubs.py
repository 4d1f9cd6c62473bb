"""The checked-in typed stub of the extension (python/octavo/_octavo.pyi) matches the built
extension: a binding whose signature changed without `python3 scripts/gen_stubs.py` fails here."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "python" / "octavo"  # the sources (the imported package may be an installed copy)


def test_stub_is_fresh(tmp_path):
    out = tmp_path / "_octavo.pyi"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_stubs.py"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    checked_in = (PKG / "_octavo.pyi").read_text()
    assert out.read_text() == checked_in, (
        "python/octavo/_octavo.pyi is stale: the extension's signatures changed. Regenerate it with "
        "`python3 scripts/gen_stubs.py` after building and commit the result.")


def test_typed_package_markers():
    # PEP 561: py.typed makes type checkers use the package's own hints and the stub.
    assert (PKG / "py.typed").is_file()
    assert (PKG / "_octavo.pyi").is_file()


def test_markers_are_not_ignored():
    # scikit-build-core copies python/octavo into the wheel (pyproject wheel.packages) minus
    # git-ignored files: the stub and py.typed ship only while no ignore rule matches them.
    files = [str(PKG / "_octavo.pyi"), str(PKG / "py.typed")]
    r = subprocess.run(["git", "-C", str(ROOT), "check-ignore", *files], capture_output=True, text=True)
    assert r.stdout == "", f"git-ignored, so left out of the wheel: {r.stdout}"
