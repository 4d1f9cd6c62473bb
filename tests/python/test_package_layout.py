"""The package's shape: public names, module layering (no import cycles), compatibility of the
names that moved out of octavo.bundle."""
import pathlib
import pickle
import subprocess
import sys

import pytest

import octavo

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "python" / "octavo"  # the sources (the imported package may be an installed copy)
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")

PUBLIC = [
    "open", "Bundle", "Group", "Node", "SoftLink", "Table", "Array", "FileNode", "__version__", "FORMAT_VERSION",
    "OctavoError", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "SchemaError",
    "OctavoIOError", "CorruptionError", "LockedError", "ConflictError", "ReadOnlyError", "UnsupportedVersionError",
    "QueryError",
]


def test_public_names():
    assert set(PUBLIC) <= set(octavo.__all__)
    for name in octavo.__all__:
        assert hasattr(octavo, name), name


def test_layers():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_py_layers.py"), str(PKG)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    # A fresh interpreter importing only this module: an import cycle would raise ImportError
    # (partially initialised module) here whatever order the package's __init__ happens to use.
    code = f"import importlib, sys; importlib.import_module('octavo.{module}')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["Node", "Group", "SoftLink", "Table", "RowWriter"])
def test_moved_classes_still_in_bundle_module(name):
    # Code and pickles written before the split name these classes as octavo.bundle.<name>.
    import octavo.bundle

    cls = getattr(octavo.bundle, name)
    assert pickle.loads(f"coctavo.bundle\n{name}\n.".encode()) is cls
    assert pickle.loads(pickle.dumps(cls)) is cls
    if name != "RowWriter":
        assert getattr(octavo, name) is cls


def test_errors_pickle(tmp_path):
    with pytest.raises(octavo.NotFoundError) as e:
        octavo.open(tmp_path / "missing.octavo", "r")
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is octavo.NotFoundError and str(again) == str(e.value)


def test_sql_driver_exit_codes(tmp_path, capsys):
    # The `octavo sql` driver (moved from octavo.query to octavo._cli) maps octavo errors to the
    # CLI's exit codes itself (the CLI opens the bundle first, so this path is reached only when
    # the bundle goes away in between).
    from octavo._cli import _cli_sql

    assert _cli_sql([str(tmp_path / "nothere"), "SELECT 1"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("octavo: error: ") and "nothere" in err
