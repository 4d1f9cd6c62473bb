#!/usr/bin/env python3
"""Checks the Python package's layering: no module of python/octavo imports one of its own
level or above, so the import graph has no cycles (not even through imports inside functions).

    errors -> {attrs, convert, ...} -> {query, zarr, node} -> {group, link, table, files, array} -> bundle

Imports under ``if TYPE_CHECKING:`` are annotations only and do not count. A new module needs an
entry in LEVELS. Run by tests/python/test_package_layout.py; exits non-zero naming each offending
import.
"""
import ast
import pathlib
import sys

# Each module may import octavo modules of lower levels only.
LEVELS = [
    ["_octavo", "errors"],                            # the extension; exceptions and argument checks
    ["enums", "progress"],                            # names of the closed sets of string values; progress display
    ["attrs", "convert", "scan"],                     # codecs, conversions, the polars scan; no node classes
    ["fileio", "query", "zarr", "node"],              # HDF5 files; query/zarr work on engine handles; Node
    ["group", "link", "table", "files", "array"],     # the node kinds
    ["bundle"],                                       # Bundle and open(): creates every kind
    ["parquet", "share", "tables", "dask", "xarray_backend"],  # Parquet I/O, shared tables, PyTables' API; dask, xarray
    ["shared_data"],                                  # named shared tables for worker pools
    ["_cli", "__init__"],                             # entry points
]
LEVEL = {m: i for i, mods in enumerate(LEVELS) for m in mods}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, octavo module) for every runtime import of a sibling module."""
    out = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import x, y
                out.extend((node.lineno, a.name) for a in node.names)
            elif node.level == 1:  # from .x import y
                out.append((node.lineno, node.module.split(".")[0]))
            elif node.level == 0 and node.module and node.module.split(".")[0] == "octavo":
                parts = node.module.split(".")
                if len(parts) > 1:
                    out.append((node.lineno, parts[1]))
                else:
                    out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "octavo" and len(parts) > 1:
                    out.append((node.lineno, parts[1]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def main() -> int:
    pkg = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                       pathlib.Path(__file__).resolve().parents[1] / "python" / "octavo")
    errors = []
    for path in sorted(pkg.glob("*.py")):
        mod = path.stem
        if mod not in LEVEL:
            errors.append(f"{path}: module octavo.{mod} has no entry in scripts/check_py_layers.py LEVELS")
            continue
        for line, dep in imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if dep not in LEVEL:
                errors.append(f"{path}:{line}: imports octavo.{dep}, which has no entry in LEVELS")
            elif LEVEL[dep] >= LEVEL[mod]:
                errors.append(f"{path}:{line}: octavo.{mod} (level {LEVEL[mod]}) imports octavo.{dep} "
                              f"(level {LEVEL[dep]}): a module may import only lower levels (no cycles)")
    for e in errors:
        print(e)
    print(f"check_py_layers: {len(errors)} violation(s)" if errors else "check_py_layers: OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
